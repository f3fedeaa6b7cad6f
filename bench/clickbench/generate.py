"""Synthetic ClickBench `hits` rows: deterministic (one seed), any size, written as Parquet.

    python generate.py ROWS OUT.parquet [--seed 1]

The real data set (100M rows of Yandex.Metrica traffic) cannot be downloaded here, so this makes
rows with the schema of ../shared/bench/clickbench/create.sql (read from it: one column per line of
the CREATE TABLE, in its order and types) and distributions under which every one of the 43
queries returns a non-trivial answer at 1M rows and above. bench/README.md lists them;
in short:

* EventTime spans July 2013 (UTC). The first 1 000 rows are the earliest events, two seconds
  apart, and every other event comes later: `ORDER BY EventTime LIMIT 10` has one answer.
* CounterID 62 is the heavy counter (30% of rows); the others follow a Zipf law.
* Popular values follow Zipf laws (users, search phrases, URLs, titles, regions, phone models,
  referer domains), so top-10 answers have distinct counts and long tails tie.
* URLHash and RefererHash are hashes of the URL and Referer; the two hashes the queries name are
  those of counter 62's home page and of the empty Referer.
* Sums stay within Int64 (UserID < 2^62 / ROWS): ClickHouse's avg(Int64) wraps past it.

Row group g is drawn from its own generator seeded with (seed, g), so rows are produced a row group
at a time (1 048 576 rows, the SDK's block) in bounded memory.
"""

import argparse
import hashlib
import datetime as dt
import os
import re
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
CREATE_SQL = os.path.join(HERE, "..", "..", "..", "shared", "bench", "clickbench", "create.sql")
ROW_GROUP = 1 << 20
JULY_2013 = int(dt.datetime(2013, 7, 1, tzinfo=dt.timezone.utc).timestamp())
MONTH_SECONDS = 31 * 86400
EARLY_ROWS = 1000  # rows 0..999: the month's first events, two seconds apart
SEARCHED_USER = 435090932899640449  # the UserID of query 20
HOME_URL_HASH = 2868770270353813622  # the URLHash of query 42: counter 62's home page
EMPTY_REFERER_HASH = 3594120000172545465  # the RefererHash of query 41: the empty Referer

ARROW_TYPES = {
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "SMALLINT": pa.int16(),
    "TEXT": pa.string(),
    "CHAR": pa.string(),
    "VARCHAR(255)": pa.string(),
    "TIMESTAMP": pa.timestamp("ms"),  # Parquet has no second unit
    "DATE": pa.date32(),
}


def hits_schema(create_sql=CREATE_SQL):
    """The hits table's columns as an Arrow schema, in create.sql's order."""
    fields = []
    for line in open(create_sql):
        m = re.match(r"\s+(\w+) (.+?) NOT NULL,?$", line)
        if m:
            fields.append(pa.field(m.group(1), ARROW_TYPES[m.group(2).upper()], nullable=False))
    assert len(fields) == 105, len(fields)
    return pa.schema(fields)


def zipf_cdf(size, exponent):
    weights = 1.0 / np.arange(1, size + 1, dtype=np.float64) ** exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def draw(rng, cdf, n):
    """n indexes into a Zipf-distributed pool (0 the most frequent)."""
    return np.minimum(np.searchsorted(cdf, rng.random(n)), len(cdf) - 1)


def text_hashes(texts):
    """A non-negative 63-bit hash of each text (equal texts, equal hashes), as Int64."""
    return np.array([int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
                     >> 1 for t in texts], dtype=np.int64)


WORDS = (
    "weather news video music games cars rent flat buy sale cheap free download online watch "
    "film series recipe football hockey map train ticket hotel moscow london paris bank credit "
    "loan job work school university phone tablet laptop price review forum dating photo book "
    "story translate dictionary horoscope taxi delivery pizza sushi flowers gift shoes dress"
).split()
SEARCH_ENGINES = 30
REFERER_DOMAINS = (
    ["yandex.ru", "go.mail.ru", "google.com", "google.ru", "rambler.ru", "vk.com", "ok.ru",
     "facebook.com", "twitter.com", "bing.com"]
    + [f"site{i}.ru" for i in range(990)]
)
URL_DOMAINS = (
    ["avito.ru", "auto.ru", "kinopoisk.ru", "www.google.com", "maps.google.com", "lenta.ru",
     "news.yandex.ru", "market.yandex.ru", "mail.ru", "livejournal.com"]
    + [f"shop{i}.com" for i in range(1990)]
)
PHONE_MODELS = ["iPhone", "iPad", "Galaxy S4", "Galaxy Note", "Lumia 920", "Xperia Z", "HTC One",
                "Nexus 4", "Nexus 7", "Kindle Fire"] + [f"Model {i}" for i in range(190)]
RESOLUTIONS = np.array([[1366, 768], [1920, 1080], [1280, 1024], [1280, 800], [1440, 900],
                        [1600, 900], [1024, 768], [1680, 1050], [1360, 768], [2560, 1440]],
                       dtype=np.int16)


class Pools:
    """The value pools rows draw from, sized by the data set and fixed by the seed."""

    def __init__(self, rows, seed):
        rng = np.random.default_rng([seed, 1 << 30])
        words = np.array(WORDS)

        def phrases(count, length):
            picks = words[rng.integers(0, len(words), size=(count, length))]
            return [" ".join(p) for p in picks]

        self.counters = max(1000, rows // 1000)
        self.counter_cdf = zipf_cdf(self.counters, 1.1)
        self.users = max(1000, rows // 10)
        self.user_ids = rng.integers(1, (1 << 62) // max(rows, 1), size=self.users, dtype=np.int64)
        self.user_cdf = zipf_cdf(self.users, 1.05)
        self.searched = rng.integers(0, rows, size=3)  # rows that carry SEARCHED_USER
        self.phrases = pa.array(phrases(max(5000, rows // 20), 3))
        self.phrase_cdf = zipf_cdf(len(self.phrases), 1.1)
        # Counter 62's pages (its home page first), then everyone else's.
        self.site_pages = max(5000, rows // 50)
        self.site_page_cdf = zipf_cdf(self.site_pages, 1.0)
        site = [f"http://metrika-demo.ru/{p}/{i}.html" for i, p in
                zip(range(self.site_pages), phrases(self.site_pages, 1))]
        site[0] = "http://metrika-demo.ru/"
        self.other_pages = max(10000, rows // 5)
        self.other_page_cdf = zipf_cdf(self.other_pages, 1.05)
        domain_cdf = zipf_cdf(len(URL_DOMAINS), 1.1)
        domains = np.array(URL_DOMAINS)[draw(rng, domain_cdf, self.other_pages)]
        other = [f"https://{d}/{p.replace(' ', '/')}?id={i}" for i, (d, p) in
                 enumerate(zip(domains, phrases(self.other_pages, 2)))]
        urls = site + other + [""]  # the last one: the empty URL
        self.urls = pa.array(urls)
        self.url_hashes = text_hashes(urls)
        self.url_hashes[0] = HOME_URL_HASH  # site[0], the only home page
        titles = [f"{p.title()} - {d}" for p, d in
                  zip(phrases(len(self.urls), 2), ["Google Maps" if i % 17 == 0 else "Portal"
                                                   for i in range(len(self.urls))])]
        self.titles = pa.array(titles)
        referer_domain_cdf = zipf_cdf(len(REFERER_DOMAINS), 1.3)
        self.referers_count = max(5000, rows // 20)
        ref_domains = np.array(REFERER_DOMAINS)[draw(rng, referer_domain_cdf, self.referers_count)]
        scheme = np.where(rng.random(self.referers_count) < 0.5, "http://www.", "https://")
        referers = [""] + [f"{s}{d}/{p.replace(' ', '/')}" for s, d, p in
                           zip(scheme, ref_domains, phrases(self.referers_count, 2))]
        self.referers = pa.array(referers)
        self.referer_cdf = zipf_cdf(self.referers_count, 1.0)
        self.referer_hashes = text_hashes(referers)
        self.referer_hashes[0] = EMPTY_REFERER_HASH  # the only empty one
        self.ips = rng.integers(-(1 << 31), 1 << 31, size=max(1000, rows // 5), dtype=np.int64)
        self.ip_cdf = zipf_cdf(len(self.ips), 1.0)
        self.hot_watch_ids = rng.integers(1, 1 << 62, size=1000, dtype=np.int64)
        self.hot_watch_cdf = zipf_cdf(1000, 1.2)
        self.phone_models = pa.array(PHONE_MODELS)
        self.phone_cdf = zipf_cdf(len(PHONE_MODELS), 1.2)
        self.regions = 5000
        self.region_cdf = zipf_cdf(self.regions, 1.1)


def row_group(pools, seed, index, start, n, schema):
    """Rows start..start+n of the data set, as a RecordBatch of `schema`."""
    rng = np.random.default_rng([seed, index])
    ints = lambda low, high: rng.integers(low, high, size=n)  # noqa: E731
    bern = lambda p: (rng.random(n) < p).astype(np.int16)  # noqa: E731
    row = np.arange(start, start + n)

    # Time: the first EARLY_ROWS rows are the earliest, the rest anywhere in July after them.
    event_time = JULY_2013 + 2 * EARLY_ROWS + ints(0, MONTH_SECONDS - 2 * EARLY_ROWS)
    early = row < EARLY_ROWS
    event_time[early] = JULY_2013 + 2 * row[early]
    counter = np.where(rng.random(n) < 0.3, 62, 63 + draw(rng, pools.counter_cdf, n))
    is_62 = counter == 62
    user = pools.user_ids[draw(rng, pools.user_cdf, n)]
    user[np.isin(row, pools.searched)] = SEARCHED_USER
    searched = rng.random(n) < 0.25
    phrase_index = draw(rng, pools.phrase_cdf, n)
    search_phrase = pc.if_else(pa.array(searched), pools.phrases.take(phrase_index), "")
    search_engine = np.where(searched, 1 + draw(rng, zipf_cdf(SEARCH_ENGINES, 1.3), n), 0)
    site_page = draw(rng, pools.site_page_cdf, n)
    other_page = pools.site_pages + draw(rng, pools.other_page_cdf, n)
    url_index = np.where(is_62, site_page, other_page)
    url_index[rng.random(n) < 0.015] = len(pools.urls) - 1  # empty URL
    referer_index = np.where(rng.random(n) < 0.4, 0, 1 + draw(rng, pools.referer_cdf, n))
    mobile = bern(0.12)
    phone_model = pools.phone_models.take(draw(rng, pools.phone_cdf, n))
    phone_model = pc.if_else(pa.array(mobile == 1), phone_model, "")
    adv = np.where(rng.random(n) < 0.03, 1 + draw(rng, zipf_cdf(30, 1.2), n), 0)
    hot = rng.random(n) < 0.01  # repeated (WatchID, ClientIP) pairs: retried hits
    hot_index = draw(rng, pools.hot_watch_cdf, n)
    watch_id = np.where(hot, pools.hot_watch_ids[hot_index], ints(1, 1 << 62))
    client_ip = np.where(hot, pools.ips[hot_index], pools.ips[draw(rng, pools.ip_cdf, n)])
    resolution = RESOLUTIONS[draw(rng, zipf_cdf(len(RESOLUTIONS), 1.0), n)]
    url = pools.urls.take(url_index)
    referer = pools.referers.take(referer_index)

    def text(values):
        return pa.array(np.array(values)[rng.integers(0, len(values), size=n)])

    columns = {
        "WatchID": watch_id,
        "JavaEnable": bern(0.7),
        "Title": pools.titles.take(url_index),
        "GoodEvent": np.ones(n, dtype=np.int16),
        "EventTime": event_time.astype("datetime64[s]"),
        "EventDate": event_time.astype("datetime64[s]").astype("datetime64[D]"),
        "CounterID": counter,
        "ClientIP": client_ip,
        "RegionID": draw(rng, pools.region_cdf, n),
        "UserID": user,
        "CounterClass": ints(0, 3),
        "OS": draw(rng, zipf_cdf(100, 1.2), n),
        "UserAgent": draw(rng, zipf_cdf(60, 1.2), n),
        "URL": url,
        "Referer": referer,
        "IsRefresh": bern(0.1),
        "RefererCategoryID": ints(0, 20),
        "RefererRegionID": draw(rng, pools.region_cdf, n),
        "URLCategoryID": ints(0, 20),
        "URLRegionID": draw(rng, pools.region_cdf, n),
        "ResolutionWidth": resolution[:, 0],
        "ResolutionHeight": resolution[:, 1],
        "ResolutionDepth": np.where(rng.random(n) < 0.9, 24, 32),
        "FlashMajor": ints(0, 12),
        "FlashMinor": ints(0, 10),
        "FlashMinor2": text(["", "0", "1", "2", "10"]),
        "NetMajor": ints(0, 5),
        "NetMinor": ints(0, 5),
        "UserAgentMajor": ints(0, 40),
        "UserAgentMinor": text(["", "0", "1", "5", "a"]),
        "CookieEnable": bern(0.95),
        "JavascriptEnable": bern(0.97),
        "IsMobile": mobile,
        "MobilePhone": np.where(mobile == 1, ints(1, 30), 0),
        "MobilePhoneModel": phone_model,
        "Params": text(["", "", "", "utm=1", "ref=mail"]),
        "IPNetworkID": ints(0, 100000),
        "TraficSourceID": ints(-1, 10),
        "SearchEngineID": search_engine,
        "SearchPhrase": search_phrase,
        "AdvEngineID": adv,
        "IsArtifical": bern(0.01),
        "WindowClientWidth": ints(300, 2600),
        "WindowClientHeight": ints(200, 1700),
        "ClientTimeZone": ints(-12, 13) * 60,
        "ClientEventTime": (event_time + ints(-5, 5)).astype("datetime64[s]"),
        "SilverlightVersion1": ints(0, 6),
        "SilverlightVersion2": ints(0, 2),
        "SilverlightVersion3": ints(0, 100000),
        "SilverlightVersion4": ints(0, 10),
        "PageCharset": text(["utf-8", "windows-1251", "koi8-r", ""]),
        "CodeVersion": ints(0, 1000),
        "IsLink": bern(0.1),
        "IsDownload": bern(0.02),
        "IsNotBounce": bern(0.5),
        "FUniqID": ints(0, 1 << 62),
        "OriginalURL": pc.if_else(pa.array(bern(0.2) == 1), url, ""),
        "HID": ints(0, 1 << 31),
        "IsOldCounter": bern(0.05),
        "IsEvent": bern(0.05),
        "IsParameter": bern(0.05),
        "DontCountHits": bern(0.05),
        "WithHash": bern(0.05),
        "HitColor": text(["E", "F", "D", "5"]),
        "LocalEventTime": (event_time + ints(-3, 4) * 3600).astype("datetime64[s]"),
        "Age": ints(0, 90),
        "Sex": ints(0, 3),
        "Income": ints(0, 5),
        "Interests": ints(0, 1000),
        "Robotness": bern(0.05),
        "RemoteIP": ints(-(1 << 31), 1 << 31),
        "WindowName": ints(-1, 1000),
        "OpenerName": ints(-1, 1000),
        "HistoryLength": ints(0, 50),
        "BrowserLanguage": text(["ru", "en", "uk", "de", "tr"]),
        "BrowserCountry": text(["ru", "ua", "by", "kz", "de", "us"]),
        "SocialNetwork": text(["", "", "", "", "vkontakte", "facebook"]),
        "SocialAction": text(["", "", "", "like", "share"]),
        "HTTPError": np.where(rng.random(n) < 0.02, 404, 0),
        "SendTiming": ints(0, 5000),
        "DNSTiming": ints(0, 500),
        "ConnectTiming": ints(0, 1000),
        "ResponseStartTiming": ints(0, 3000),
        "ResponseEndTiming": ints(0, 5000),
        "FetchTiming": ints(0, 8000),
        "SocialSourceNetworkID": ints(0, 10),
        "SocialSourcePage": text(["", "", "", "/feed", "/wall"]),
        "ParamPrice": np.where(rng.random(n) < 0.02, ints(100, 100000), 0),
        "ParamOrderID": text(["", "", "", "", "A-1", "B-2"]),
        "ParamCurrency": text(["", "RUB", "USD", "EUR"]),
        "ParamCurrencyID": ints(0, 4),
        "OpenstatServiceName": text(["", "", "direct.yandex.ru"]),
        "OpenstatCampaignID": text(["", "", "17", "42"]),
        "OpenstatAdID": text(["", "", "ad-1"]),
        "OpenstatSourceID": text(["", "", "src"]),
        "UTMSource": text(["", "", "yandex", "google", "vk"]),
        "UTMMedium": text(["", "", "cpc", "email"]),
        "UTMCampaign": text(["", "", "summer", "sale"]),
        "UTMContent": text(["", "", "banner"]),
        "UTMTerm": text(["", "", "buy"]),
        "FromTag": text(["", "", "header"]),
        "HasGCLID": bern(0.02),
        "RefererHash": pools.referer_hashes[referer_index],
        "URLHash": pools.url_hashes[url_index],
        "CLID": np.where(rng.random(n) < 0.1, ints(1, 1000000), 0),
    }
    assert list(columns) == schema.names, set(columns) ^ set(schema.names)
    arrays = [pa.array(columns[f.name], type=f.type) if not isinstance(columns[f.name], pa.Array)
              else columns[f.name].cast(f.type) for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def generate(rows, path, seed=1, progress=None):
    """Writes `rows` rows to the Parquet file `path` (atomically: a temporary name, then a rename)
    and returns the schema."""
    schema = hits_schema()
    pools = Pools(rows, seed)
    tmp = f"{path}.tmp"
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for index, start in enumerate(range(0, rows, ROW_GROUP)):
            n = min(ROW_GROUP, rows - start)
            writer.write_batch(row_group(pools, seed, index, start, n, schema), row_group_size=n)
            if progress:
                progress(start + n, rows)
    os.replace(tmp, path)
    return schema


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    generate(args.rows, args.out, args.seed,
             lambda done, total: print(f"generated {done:,} / {total:,} rows", file=sys.stderr))


if __name__ == "__main__":
    main()
