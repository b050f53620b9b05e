int not_defined_anywhere(int x);

int main(void) { return not_defined_anywhere(1); }
