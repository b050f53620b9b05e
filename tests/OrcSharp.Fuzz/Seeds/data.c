/* Seed (archive member): data another member refers to. */
const char *greeting = "hello from the archive";
