int square(int);
int square_plus_one(int x) { return square(x) + 1; }
