/* The embedded-Python workload: a program that starts the interpreter from Debian's static
   libpython3.11.a and runs a small script that imports nothing from lib-dynload. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

int main(void) {
  Py_Initialize();
  int status = PyRun_SimpleString("print(sum(range(10**6)))");
  if (Py_FinalizeEx() < 0) return 120;
  return status == 0 ? 0 : 1;
}
