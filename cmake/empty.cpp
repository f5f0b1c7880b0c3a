// Keeps every per-folder library non-empty while a folder is being filled.
