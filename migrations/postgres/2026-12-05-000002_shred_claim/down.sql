DROP INDEX reports_erase_pending;
