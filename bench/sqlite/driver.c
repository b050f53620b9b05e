/* The sqlite workload's driver: builds a table in an in-memory database, then runs an aggregate, a
   join and an index lookup, printing every result so native and JIT'd runs can be compared. */
#include <stdio.h>
#include <stdlib.h>
#include "sqlite3.h"

static int print_row(void *tag, int n, char **values, char **names) {
  printf("%s:", (const char *)tag);
  for (int i = 0; i < n; i++) printf(" %s=%s", names[i], values[i] ? values[i] : "NULL");
  printf("\n");
  return 0;
}

static void exec(sqlite3 *db, const char *tag, const char *sql) {
  char *err = 0;
  if (sqlite3_exec(db, sql, print_row, (void *)tag, &err) != SQLITE_OK) {
    fprintf(stderr, "%s: %s\n", tag, err);
    sqlite3_free(err);
    exit(1);
  }
}

int main(int argc, char **argv) {
  int rows = argc > 1 ? atoi(argv[1]) : 20000;
  sqlite3 *db;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return 1;
  exec(db, "setup", "CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, score REAL);"
                    "CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);");
  exec(db, "begin", "BEGIN");
  sqlite3_stmt *ins;
  sqlite3_prepare_v2(db, "INSERT INTO t(grp, name, score) VALUES(?, ?, ?)", -1, &ins, 0);
  char name[32];
  for (int i = 0; i < rows; i++) {
    snprintf(name, sizeof name, "item-%d", i * 7919 % rows);
    sqlite3_bind_int(ins, 1, i % 17);
    sqlite3_bind_text(ins, 2, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(ins, 3, (i * 37 % 1000) / 10.0);
    sqlite3_step(ins);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  for (int g = 0; g < 17; g++) {
    char sql[96];
    snprintf(sql, sizeof sql, "INSERT INTO g VALUES(%d, 'group-%c')", g, 'a' + g);
    exec(db, "group", sql);
  }
  exec(db, "commit", "COMMIT");
  exec(db, "index", "CREATE INDEX t_name ON t(name)");
  exec(db, "aggregate", "SELECT count(*) AS n, round(avg(score), 3) AS avg, max(name) AS last FROM t");
  exec(db, "join", "SELECT g.label, count(*) AS n, round(sum(t.score), 1) AS total FROM t JOIN g USING(grp) "
                   "GROUP BY g.label ORDER BY total DESC LIMIT 3");
  exec(db, "lookup", "SELECT id, grp FROM t WHERE name = 'item-42'");
  printf("sqlite %s\n", sqlite3_libversion());
  sqlite3_close(db);
  return 0;
}
