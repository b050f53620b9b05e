// Linked first: its copies of the inline functions in shared.h are the ones kept.
#include "shared.h"
int first(int x) { return checked_twice(x) + plain_thrice(x); }
