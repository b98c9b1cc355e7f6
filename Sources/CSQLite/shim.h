#include <sqlite3.h>

/// sqlite3_db_config is variadic, which Swift cannot call; this wraps the one option we set.
/// Skips the checkpoint (and its fsync) that the last connection otherwise runs on close, so a
/// short-lived CNI process does not pay for it; the WAL stays and later commits checkpoint it.
static inline int csqlite_skip_checkpoint_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}

/// sqlite3_config is variadic too. No bulk allocation for the page cache: by default (Debian's
/// build: SQLITE_DEFAULT_PCACHE_INITSZ=20) a connection's first page takes memory for twenty
/// and writes a header into each, ~80 KiB of private memory in a process that reads a handful of
/// pages. Pages are then allocated one by one. Only before SQLite initializes (the first open
/// of the process); later it returns SQLITE_MISUSE and changes nothing.
static inline int csqlite_page_cache_without_bulk_allocation(void) {
    return sqlite3_config(SQLITE_CONFIG_PAGECACHE, (void *)0, 0, 0);
}
