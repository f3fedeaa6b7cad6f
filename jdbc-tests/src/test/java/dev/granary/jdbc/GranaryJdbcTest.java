package dev.granary.jdbc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.Date;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Granary through pgjdbc, the way Java applications and BI tools reach it. */
class GranaryJdbcTest {
  private static final String DATABASE = "jdbc_tests";

  private static String url(String database) {
    String port = System.getProperty("granary.pg.port");
    if (port == null || port.isEmpty()) {
      throw new IllegalStateException("set -Dgranary.pg.port to a running granary-server's port");
    }
    return "jdbc:postgresql://127.0.0.1:" + port + "/" + database;
  }

  private static Connection connect() throws SQLException {
    return DriverManager.getConnection(url(DATABASE), "default", "");
  }

  @BeforeAll
  static void createDatabase() throws SQLException {
    try (Connection connection = DriverManager.getConnection(url("default"), "default", "");
        Statement statement = connection.createStatement()) {
      statement.execute("DROP DATABASE IF EXISTS " + DATABASE);
      statement.execute("CREATE DATABASE " + DATABASE);
    }
  }

  @AfterAll
  static void dropDatabase() throws SQLException {
    try (Connection connection = DriverManager.getConnection(url("default"), "default", "");
        Statement statement = connection.createStatement()) {
      statement.execute("DROP DATABASE IF EXISTS " + DATABASE);
    }
  }

  @Test
  void connectsAndReportsAPostgresqlVersion() throws SQLException {
    try (Connection connection = connect()) {
      assertEquals("PostgreSQL", connection.getMetaData().getDatabaseProductName());
      assertTrue(connection.getMetaData().getDatabaseProductVersion().startsWith("15."));
      try (Statement statement = connection.createStatement();
          ResultSet rows = statement.executeQuery("SELECT 1 AS one, 'two' AS two")) {
        assertTrue(rows.next());
        assertEquals(1, rows.getInt("one"));
        assertEquals("two", rows.getString("two"));
        assertFalse(rows.next());
      }
    }
  }

  @Test
  void preparedStatementsTakeEveryParameterType() throws SQLException {
    try (Connection connection = connect(); Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE typed (id Int32, big Int64, ratio Float64, name String, day Date,"
              + " at DateTime64(6), ok Bool, maybe Nullable(Int32), maybe_day Nullable(Date))"
              + " ENGINE = MergeTree ORDER BY id");
      try (PreparedStatement insert =
          connection.prepareStatement("INSERT INTO typed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
        insert.setInt(1, 1);
        insert.setLong(2, 9_007_199_254_740_993L);
        insert.setDouble(3, 0.25);
        insert.setString(4, "it's");
        insert.setDate(5, Date.valueOf("2024-02-29"));
        insert.setTimestamp(6, Timestamp.valueOf("2024-02-29 13:45:56.123456"));
        insert.setBoolean(7, true);
        insert.setNull(8, Types.INTEGER);
        insert.setNull(9, Types.DATE);
        assertEquals(1, insert.executeUpdate());
      }
      try (PreparedStatement select =
          connection.prepareStatement("SELECT * FROM typed WHERE id = ? AND name = ?")) {
        select.setInt(1, 1);
        select.setString(2, "it's");
        try (ResultSet rows = select.executeQuery()) {
          assertTrue(rows.next());
          assertEquals(9_007_199_254_740_993L, rows.getLong("big"));
          assertEquals(0.25, rows.getDouble("ratio"));
          assertEquals("it's", rows.getString("name"));
          assertEquals(Date.valueOf("2024-02-29"), rows.getDate("day"));
          assertEquals(Timestamp.valueOf("2024-02-29 13:45:56.123456"), rows.getTimestamp("at"));
          assertTrue(rows.getBoolean("ok"));
          rows.getInt("maybe");
          assertTrue(rows.wasNull());
          assertNull(rows.getDate("maybe_day"));
          assertEquals("int8", rows.getMetaData().getColumnTypeName(2));
        }
      }
    }
  }

  @Test
  void repeatedExecutionsSwitchToServerPreparedBinaryResults() throws SQLException {
    try (Connection connection = connect(); Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE repeated (id Int32, at DateTime, score Float32) ENGINE = MergeTree ORDER BY id");
      statement.execute(
          "INSERT INTO repeated SELECT number, toDateTime('2024-01-01 00:00:00') + number,"
              + " number / 4 FROM numbers(100)");
      try (PreparedStatement select =
          connection.prepareStatement("SELECT id, at, score FROM repeated WHERE id = ?")) {
        // pgjdbc prepares on the server after 5 runs and then asks for binary results.
        for (int run = 0; run < 12; run++) {
          select.setInt(1, run);
          try (ResultSet rows = select.executeQuery()) {
            assertTrue(rows.next(), "run " + run);
            assertEquals(run, rows.getInt(1));
            assertEquals(
                Timestamp.valueOf("2024-01-01 00:00:00").getTime() + run * 1000L,
                rows.getTimestamp(2).getTime());
            assertEquals(run / 4.0f, rows.getFloat(3));
            assertFalse(rows.next());
          }
        }
      }
    }
  }

  @Test
  void fetchSizeStreamsAMillionRowsInsideATransaction() throws SQLException {
    try (Connection connection = connect()) {
      connection.setAutoCommit(false);
      try (Statement statement = connection.createStatement()) {
        statement.setFetchSize(10_000);
        long count = 0;
        long sum = 0;
        try (ResultSet rows = statement.executeQuery("SELECT number FROM numbers(1000000)")) {
          while (rows.next()) {
            count++;
            sum += rows.getLong(1);
          }
        }
        assertEquals(1_000_000L, count);
        assertEquals(499_999_500_000L, sum);
      }
      connection.commit();
    }
  }

  @Test
  void errorsCarryTheirSqlstateAndTheConnectionRecovers() throws SQLException {
    try (Connection connection = connect(); Statement statement = connection.createStatement()) {
      SQLException missing =
          assertThrows(SQLException.class, () -> statement.executeQuery("SELECT * FROM missing"));
      assertEquals("42P01", missing.getSQLState());
      SQLException syntax =
          assertThrows(SQLException.class, () -> statement.executeQuery("SELEC 1"));
      assertEquals("42601", syntax.getSQLState());
      try (ResultSet rows = statement.executeQuery("SELECT 41 + 1")) {
        assertTrue(rows.next());
        assertEquals(42, rows.getInt(1));
      }
      connection.setAutoCommit(false);
      assertThrows(SQLException.class, () -> statement.executeQuery("SELECT * FROM missing"));
      SQLException aborted =
          assertThrows(SQLException.class, () -> statement.executeQuery("SELECT 1"));
      assertEquals("25P02", aborted.getSQLState());
      connection.rollback();
      try (ResultSet rows = statement.executeQuery("SELECT 'back'")) {
        assertTrue(rows.next());
        assertEquals("back", rows.getString(1));
      }
    }
  }

  @Test
  void batchInsertsWriteEveryRow() throws SQLException {
    try (Connection connection = connect(); Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE batched (id UInt64, label String) ENGINE = MergeTree ORDER BY id");
      try (PreparedStatement insert =
          connection.prepareStatement("INSERT INTO batched (id, label) VALUES (?, ?)")) {
        for (long id = 0; id < 500; id++) {
          insert.setLong(1, id);
          insert.setString(2, "row " + id);
          insert.addBatch();
        }
        int[] counts = insert.executeBatch();
        assertEquals(500, counts.length);
        for (int count : counts) {
          assertEquals(1, count);
        }
      }
      try (ResultSet rows =
          statement.executeQuery("SELECT count(), sum(id), max(label) FROM batched")) {
        assertTrue(rows.next());
        // count() is UInt64: numeric, read as a number all the same.
        assertEquals(500L, rows.getLong(1));
        assertEquals(new BigDecimal("124750"), rows.getBigDecimal(2));
        assertEquals("row 99", rows.getString(3));
      }
    }
  }

  @Test
  void databaseMetaDataListsTablesColumnsAndSchemas() throws SQLException {
    try (Connection connection = connect(); Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE described (id UInt32, name String, score Nullable(Float64))"
              + " ENGINE = MergeTree ORDER BY id");
      DatabaseMetaData metadata = connection.getMetaData();
      try (ResultSet tables = metadata.getTables(null, DATABASE, "described", new String[] {"TABLE"})) {
        assertTrue(tables.next());
        assertEquals(DATABASE, tables.getString("TABLE_SCHEM"));
        assertEquals("described", tables.getString("TABLE_NAME"));
        assertEquals("TABLE", tables.getString("TABLE_TYPE"));
        assertFalse(tables.next());
      }
      try (ResultSet columns = metadata.getColumns(null, DATABASE, "described", null)) {
        assertTrue(columns.next());
        assertEquals("id", columns.getString("COLUMN_NAME"));
        assertEquals(Types.BIGINT, columns.getInt("DATA_TYPE"));
        assertEquals(DatabaseMetaData.columnNoNulls, columns.getInt("NULLABLE"));
        assertTrue(columns.next());
        assertEquals("name", columns.getString("COLUMN_NAME"));
        assertEquals(Types.VARCHAR, columns.getInt("DATA_TYPE"));
        assertTrue(columns.next());
        assertEquals("score", columns.getString("COLUMN_NAME"));
        assertEquals(Types.DOUBLE, columns.getInt("DATA_TYPE"));
        assertEquals(DatabaseMetaData.columnNullable, columns.getInt("NULLABLE"));
        assertEquals(3, columns.getInt("ORDINAL_POSITION"));
        assertFalse(columns.next());
      }
      boolean found = false;
      try (ResultSet schemas = metadata.getSchemas()) {
        while (schemas.next()) {
          found |= DATABASE.equals(schemas.getString("TABLE_SCHEM"));
        }
      }
      assertTrue(found, "the database is a schema");
    }
  }

  @Test
  void databaseMetaDataReportsThePrimaryKeyInKeyOrder() throws SQLException {
    try (Connection connection = connect(); Statement statement = connection.createStatement()) {
      statement.execute(
          "CREATE TABLE keyed (v Float64, id UInt64, tenant String)"
              + " ENGINE = MergeTree ORDER BY (tenant, id)");
      DatabaseMetaData metadata = connection.getMetaData();
      try (ResultSet keys = metadata.getPrimaryKeys(null, DATABASE, "keyed")) {
        assertTrue(keys.next());
        assertEquals("tenant", keys.getString("COLUMN_NAME"));
        assertEquals(1, keys.getInt("KEY_SEQ"));
        assertEquals("keyed_pkey", keys.getString("PK_NAME"));
        assertEquals(DATABASE, keys.getString("TABLE_SCHEM"));
        assertTrue(keys.next());
        assertEquals("id", keys.getString("COLUMN_NAME"));
        assertEquals(2, keys.getInt("KEY_SEQ"));
        assertFalse(keys.next());
      }
      statement.execute("CREATE TABLE unkeyed (v Float64) ENGINE = MergeTree ORDER BY tuple()");
      try (ResultSet keys = metadata.getPrimaryKeys(null, DATABASE, "unkeyed")) {
        assertFalse(keys.next(), "ORDER BY tuple() has no primary key");
      }
    }
  }

  @Test
  void databaseMetaDataListsTheTypes() throws SQLException {
    try (Connection connection = connect();
        ResultSet types = connection.getMetaData().getTypeInfo()) {
      java.util.Map<String, Integer> found = new java.util.HashMap<>();
      while (types.next()) {
        found.put(types.getString("TYPE_NAME"), types.getInt("DATA_TYPE"));
      }
      assertEquals(Types.BIGINT, found.get("int8"));
      assertEquals(Types.VARCHAR, found.get("text"));
      assertEquals(Types.NUMERIC, found.get("numeric"));
      assertEquals(Types.ARRAY, found.get("_int4"));
    }
  }

  @Test
  void scramPasswordsAreCheckedAndAWrongOneGets28P01() throws SQLException {
    // server/tests/clients/run.sh configures alice with the password "pencil".
    try (Connection connection = DriverManager.getConnection(url(DATABASE), "alice", "pencil");
        Statement statement = connection.createStatement();
        ResultSet result = statement.executeQuery("SELECT 1")) {
      assertTrue(result.next());
    }
    SQLException refused =
        assertThrows(
            SQLException.class, () -> DriverManager.getConnection(url(DATABASE), "alice", "pen"));
    assertEquals("28P01", refused.getSQLState());
  }

  @Test
  void statementCancelStopsALongQuery() throws Exception {
    try (Connection connection = connect(); Statement statement = connection.createStatement()) {
      Thread canceller =
          new Thread(
              () -> {
                try {
                  Thread.sleep(300);
                  statement.cancel();
                } catch (Exception e) {
                  throw new RuntimeException(e);
                }
              });
      canceller.start();
      long started = System.nanoTime();
      SQLException cancelled =
          assertThrows(
              SQLException.class,
              () -> statement.executeQuery("SELECT sum(number) FROM numbers(100000000000)"));
      canceller.join();
      assertEquals("57014", cancelled.getSQLState());
      assertTrue(System.nanoTime() - started < 10_000_000_000L);
      try (ResultSet rows = statement.executeQuery("SELECT 'still here'")) {
        assertTrue(rows.next());
        assertEquals("still here", rows.getString(1));
      }
    }
  }
}
