#include <sqlite3.h>

/// sqlite3_db_config is variadic, which Swift cannot call; this wraps the one option we set.
/// Skips the checkpoint (and its fsync) that the last connection otherwise runs on close, so a
/// short-lived CNI process does not pay for it; the WAL stays and later commits checkpoint it.
static inline int csqlite_skip_checkpoint_on_close(sqlite3 *db) {
    return sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)0);
}
