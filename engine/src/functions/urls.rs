//! URL functions with ClickHouse's answers: `protocol`, `domain`, `domainWithoutWWW`,
//! `topLevelDomain`, `path`, `pathFull`, `queryString`, `fragment`, `extractURLParameter`,
//! `cutQueryString` and `cutWWW`. A URL is read without validation, as ClickHouse does: a host with
//! characters a host cannot have (a space, user info) gives an empty domain; a URL without a scheme
//! (`example.com/path`) still has a domain and a path.

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType as ArrowType, FieldRef};
use datafusion::arrow::compute::cast;
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use granary_protocol::ErrorCode;

use super::arguments::on_arrays;
use crate::Error;

/// A URL function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Protocol,
    Domain,
    DomainWithoutWww,
    TopLevelDomain,
    Path,
    PathFull,
    QueryString,
    Fragment,
    Parameter,
    CutQueryString,
    CutWww,
}

impl Part {
    const ALL: [Part; 11] = [
        Part::Protocol,
        Part::Domain,
        Part::DomainWithoutWww,
        Part::TopLevelDomain,
        Part::Path,
        Part::PathFull,
        Part::QueryString,
        Part::Fragment,
        Part::Parameter,
        Part::CutQueryString,
        Part::CutWww,
    ];

    fn name(self) -> &'static str {
        match self {
            Part::Protocol => "protocol",
            Part::Domain => "domain",
            Part::DomainWithoutWww => "domainWithoutWWW",
            Part::TopLevelDomain => "topLevelDomain",
            Part::Path => "path",
            Part::PathFull => "pathFull",
            Part::QueryString => "queryString",
            Part::Fragment => "fragment",
            Part::Parameter => "extractURLParameter",
            Part::CutQueryString => "cutQueryString",
            Part::CutWww => "cutWWW",
        }
    }

    fn arity(self) -> usize {
        if self == Part::Parameter { 2 } else { 1 }
    }
}

/// The pieces of a URL, as byte ranges.
struct Url<'a> {
    text: &'a str,
    /// The scheme (without `://`); empty when there is none.
    scheme: &'a str,
    /// Where the host starts and ends (a port excluded).
    host: (usize, usize),
    /// Where the path starts (`/`) or where the query or fragment starts when there is no path.
    path_start: usize,
    /// Where `?` is, if anywhere before the fragment.
    query: Option<usize>,
    /// Where `#` is.
    fragment: Option<usize>,
}

impl<'a> Url<'a> {
    fn parse(text: &'a str) -> Url<'a> {
        let (scheme, authority) = match text.find("://") {
            Some(at)
                if at > 0
                    && text[..at]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) =>
            {
                (&text[..at], at + 3)
            }
            _ if text.starts_with("//") => ("", 2),
            _ => ("", 0),
        };
        let rest = &text[authority..];
        let authority_end = authority + rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let host_end = authority
            + text[authority..authority_end]
                .find(':')
                .unwrap_or(authority_end - authority);
        let fragment = text.find('#');
        let query = text[..fragment.unwrap_or(text.len())].find('?');
        Url {
            text,
            scheme,
            host: (authority, host_end),
            path_start: authority_end,
            query,
            fragment,
        }
    }

    /// The host, or "" when it has characters a host cannot have.
    fn domain(&self) -> &'a str {
        let host = &self.text[self.host.0..self.host.1];
        // ClickHouse gives no domain for a URL with user info (`user:password@host`).
        if self.text[self.host.0..self.path_start].contains('@') {
            return "";
        }
        let valid = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b) || b >= 0x80);
        if valid && (host.contains('.') || !self.scheme.is_empty()) {
            host
        } else {
            ""
        }
    }

    fn path_full(&self) -> &'a str {
        if self.text[self.path_start..].starts_with('/') {
            &self.text[self.path_start..]
        } else {
            ""
        }
    }

    fn path(&self) -> &'a str {
        let full = self.path_full();
        let end = full.find(['?', '#']).unwrap_or(full.len());
        &full[..end]
    }

    fn query_string(&self) -> &'a str {
        match self.query {
            Some(at) => &self.text[at + 1..self.fragment.unwrap_or(self.text.len())],
            None => "",
        }
    }

    fn fragment(&self) -> &'a str {
        self.fragment.map_or("", |at| &self.text[at + 1..])
    }

    fn parameter(&self, name: &str) -> &'a str {
        let start = match self.query.or(self.fragment) {
            Some(at) => at + 1,
            None => return "",
        };
        for pair in self.text[start..].split(['&', '#']) {
            if let Some(value) = pair
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
            {
                return value;
            }
        }
        ""
    }

    fn without_query_string(&self) -> Cow<'a, str> {
        match self.query {
            Some(at) => {
                let fragment = self.fragment.map_or("", |at| &self.text[at..]);
                Cow::Owned(format!("{}{fragment}", &self.text[..at]))
            }
            None => Cow::Borrowed(self.text),
        }
    }

    fn without_www(&self) -> Cow<'a, str> {
        let (start, end) = self.host;
        match self.text[start..end].strip_prefix("www.") {
            Some(_) => Cow::Owned(format!(
                "{}{}",
                &self.text[..start],
                &self.text[start + 4..]
            )),
            None => Cow::Borrowed(self.text),
        }
    }
}

/// `part` of `url` (`name` is the parameter of `extractURLParameter`): a slice of the URL, or for
/// the `cut*` functions the URL without a piece.
fn extract<'a>(part: Part, url: &'a str, name: &str) -> Cow<'a, str> {
    let url = Url::parse(url);
    Cow::Borrowed(match part {
        Part::Protocol => url.scheme,
        Part::Domain => url.domain(),
        Part::DomainWithoutWww => {
            let domain = url.domain();
            domain.strip_prefix("www.").unwrap_or(domain)
        }
        Part::TopLevelDomain => {
            let domain = url.domain();
            domain.rfind('.').map_or("", |at| &domain[at + 1..])
        }
        Part::Path => url.path(),
        Part::PathFull => url.path_full(),
        Part::QueryString => url.query_string(),
        Part::Fragment => url.fragment(),
        Part::Parameter => url.parameter(name),
        Part::CutQueryString => return url.without_query_string(),
        Part::CutWww => return url.without_www(),
    })
}

/// The functions of this module.
pub fn functions() -> Vec<ScalarUDF> {
    Part::ALL
        .into_iter()
        .map(|part| {
            ScalarUDF::new_from_impl(UrlFunction {
                part,
                signature: Signature::variadic_any(Volatility::Immutable),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct UrlFunction {
    part: Part,
    signature: Signature,
}

impl ScalarUDFImpl for UrlFunction {
    fn name(&self) -> &str {
        self.part.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[ArrowType]) -> DfResult<ArrowType> {
        Ok(ArrowType::Utf8)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> DfResult<FieldRef> {
        if args.arg_fields.len() != self.part.arity() {
            return Err(Error::query(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!(
                    "Number of arguments for function {} doesn't match: passed {}, should be {}",
                    self.name(),
                    args.arg_fields.len(),
                    self.part.arity()
                ),
            )
            .into());
        }
        for field in args.arg_fields {
            if !matches!(
                field.data_type(),
                ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View | ArrowType::Null
            ) {
                return Err(Error::query(
                    ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                    format!(
                        "Illegal type {} of argument of function {}",
                        field.data_type(),
                        self.name()
                    ),
                )
                .into());
            }
        }
        Ok(super::propagated_field(self.name(), ArrowType::Utf8, &args))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let part = self.part;
        on_arrays(&args.args, args.number_rows, |arrays| {
            let urls = cast(&arrays[0], &ArrowType::Utf8)?;
            let urls = urls.as_string::<i32>();
            let names = match arrays.get(1) {
                Some(names) => Some(cast(names, &ArrowType::Utf8)?),
                None => None,
            };
            let names = names.as_ref().map(|names| names.as_string::<i32>());
            let mut out = StringBuilder::with_capacity(urls.len(), urls.value_data().len());
            for row in 0..urls.len() {
                let name = names.map(|names| (names.is_valid(row), names.value(row)));
                match (urls.is_valid(row), name) {
                    (false, _) | (_, Some((false, _))) => out.append_null(),
                    (true, name) => out.append_value(extract(
                        part,
                        urls.value(row),
                        name.map_or("", |(_, name)| name),
                    )),
                }
            }
            Ok(Arc::new(out.finish()) as ArrayRef)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_as_clickhouse_reads_them() {
        // Expected values from chDB 4.4: protocol, domain, domainWithoutWWW, topLevelDomain,
        // path, pathFull, queryString, fragment, extractURLParameter 'y' and 'x',
        // cutQueryString, cutWWW.
        let cases = [
            (
                "https://www.example.com:8080/a/b.html?x=1&y=2#frag",
                [
                    "https",
                    "www.example.com",
                    "example.com",
                    "com",
                    "/a/b.html",
                    "/a/b.html?x=1&y=2#frag",
                    "x=1&y=2",
                    "frag",
                    "2",
                    "1",
                    "https://www.example.com:8080/a/b.html#frag",
                    "https://example.com:8080/a/b.html?x=1&y=2#frag",
                ],
            ),
            (
                "http://example.co.uk",
                [
                    "http",
                    "example.co.uk",
                    "example.co.uk",
                    "uk",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "http://example.co.uk",
                    "http://example.co.uk",
                ],
            ),
            (
                "//cdn.example.org/x",
                [
                    "",
                    "cdn.example.org",
                    "cdn.example.org",
                    "org",
                    "/x",
                    "/x",
                    "",
                    "",
                    "",
                    "",
                    "//cdn.example.org/x",
                    "//cdn.example.org/x",
                ],
            ),
            (
                "example.com/path?q",
                [
                    "",
                    "example.com",
                    "example.com",
                    "com",
                    "/path",
                    "/path?q",
                    "q",
                    "",
                    "",
                    "",
                    "example.com/path",
                    "example.com/path?q",
                ],
            ),
            (
                "ftp://user:pw@host.ru/file",
                [
                    "ftp",
                    "",
                    "",
                    "",
                    "/file",
                    "/file",
                    "",
                    "",
                    "",
                    "",
                    "ftp://user:pw@host.ru/file",
                    "ftp://user:pw@host.ru/file",
                ],
            ),
            (
                "not a url",
                [
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "not a url",
                    "not a url",
                ],
            ),
            (
                "https://www.a.com?x=1",
                [
                    "https",
                    "www.a.com",
                    "a.com",
                    "com",
                    "",
                    "",
                    "x=1",
                    "",
                    "",
                    "1",
                    "https://www.a.com",
                    "https://a.com?x=1",
                ],
            ),
        ];
        let parts = [
            (Part::Protocol, ""),
            (Part::Domain, ""),
            (Part::DomainWithoutWww, ""),
            (Part::TopLevelDomain, ""),
            (Part::Path, ""),
            (Part::PathFull, ""),
            (Part::QueryString, ""),
            (Part::Fragment, ""),
            (Part::Parameter, "y"),
            (Part::Parameter, "x"),
            (Part::CutQueryString, ""),
            (Part::CutWww, ""),
        ];
        for (url, expected) in cases {
            for ((part, name), expected) in parts.iter().zip(expected) {
                assert_eq!(extract(*part, url, name), expected, "{part:?} of {url}");
            }
        }
    }
}
