// clickhouse-go/v2 over the native protocol against a running granary-server
// (GRANARY_NATIVE_PORT): connect, insert a batch with PrepareBatch, read it back, and see an
// error's ClickHouse code. Run by server/tests/clients/run.sh.
package clienttests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

func connect(t *testing.T, compression clickhouse.CompressionMethod) driver.Conn {
	t.Helper()
	port := os.Getenv("GRANARY_NATIVE_PORT")
	if port == "" {
		t.Fatal("GRANARY_NATIVE_PORT is not set: run server/tests/clients/run.sh")
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{"127.0.0.1:" + port},
		Auth:        clickhouse.Auth{Database: "default", Username: "default"},
		Compression: &clickhouse.Compression{Method: compression},
		DialTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestBatchInsertAndReadBack(t *testing.T) {
	for _, compression := range []clickhouse.CompressionMethod{clickhouse.CompressionNone, clickhouse.CompressionLZ4, clickhouse.CompressionZSTD} {
		t.Run(compression.String(), func(t *testing.T) {
			ctx := context.Background()
			conn := connect(t, compression)
			if err := conn.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			table := "go_events_" + compression.String()
			if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+table); err != nil {
				t.Fatal(err)
			}
			if err := conn.Exec(ctx, "CREATE TABLE "+table+` (
				id UInt64, name String, score Float64, at DateTime, maybe Nullable(Int32),
				tags Array(String), kind LowCardinality(String)
			) ENGINE = MergeTree ORDER BY id`); err != nil {
				t.Fatal(err)
			}
			batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)
			const rows = 10000
			for i := 0; i < rows; i++ {
				var maybe *int32
				if i%3 == 0 {
					v := int32(-i)
					maybe = &v
				}
				err := batch.Append(uint64(i), fmt.Sprintf("name-%d", i), float64(i)/4,
					start.Add(time.Duration(i)*time.Second), maybe,
					[]string{"a", fmt.Sprint(i % 5)}, []string{"x", "y", "z"}[i%3])
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := batch.Send(); err != nil {
				t.Fatal(err)
			}

			var count, sum uint64
			if err := conn.QueryRow(ctx, "SELECT count(), sum(id) FROM "+table).Scan(&count, &sum); err != nil {
				t.Fatal(err)
			}
			if count != rows || sum != rows*(rows-1)/2 {
				t.Fatalf("count %d sum %d", count, sum)
			}
			result, err := conn.Query(ctx, "SELECT id, name, score, at, maybe, tags, kind FROM "+table+" WHERE id IN (3, 4) ORDER BY id")
			if err != nil {
				t.Fatal(err)
			}
			defer result.Close()
			var got []string
			for result.Next() {
				var (
					id    uint64
					name  string
					score float64
					at    time.Time
					maybe *int32
					tags  []string
					kind  string
				)
				if err := result.Scan(&id, &name, &score, &at, &maybe, &tags, &kind); err != nil {
					t.Fatal(err)
				}
				value := "NULL"
				if maybe != nil {
					value = fmt.Sprint(*maybe)
				}
				got = append(got, fmt.Sprintf("%d %s %g %s %s %v %s", id, name, score, at.UTC().Format(time.RFC3339), value, tags, kind))
			}
			if err := result.Err(); err != nil {
				t.Fatal(err)
			}
			want := []string{
				"3 name-3 0.75 2024-02-29T12:00:03Z -3 [a 3] x",
				"4 name-4 1 2024-02-29T12:00:04Z NULL [a 4] y",
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestErrorsCarryTheirCode(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, clickhouse.CompressionLZ4)
	err := conn.Exec(ctx, "SELECT * FROM no_such_table")
	var exception *clickhouse.Exception
	if !errors.As(err, &exception) || exception.Code != 60 {
		t.Fatalf("want code 60 (UNKNOWN_TABLE), got %v", err)
	}
	var one uint8
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("the connection should work after an error: %v", err)
	}
}
