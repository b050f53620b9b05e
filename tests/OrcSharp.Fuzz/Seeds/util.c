/* Seed (archive member): helpers that main.c pulls in, one of them from a second member. */
int scale(int x) { return x * 3; }
int unused_in_archive(int x) { return x - 1; }
