/* Python embedded from Debian's static libpython3.11.a. The script imports extension modules from the
   system's lib-dynload, shared objects that resolve the Python API (PyFloat_Type ...) against the
   program, as Python's own executable (linked with -Wl,-E) provides it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static const char script[] =
    "import sys\n"
    "import _json, _decimal, _contextvars, _queue, mmap, _bz2\n"
    "import json, decimal, contextvars, queue, bz2\n"
    "print(json.dumps({'b': [1, 2.5, None], 'a': 'x'}, sort_keys=True), json.loads('[1, {\"k\": 2.25}]'))\n"
    "print('c accelerator:', json.encoder.c_make_encoder is not None, json.scanner.c_make_scanner is not None)\n"
    "print(decimal.Decimal(1) / decimal.Decimal(7), decimal.Decimal('2.50') * 3, type(decimal.Decimal(1)).__module__)\n"
    "v = contextvars.ContextVar('v', default=3)\n"
    "print(v.get(), contextvars.copy_context().run(lambda: (v.set(5), v.get())[1]), v.get())\n"
    "q = queue.SimpleQueue(); q.put('item'); print(q.get(), type(q).__module__)\n"
    "m = mmap.mmap(-1, 16); m.write(b'mapped'); print(m[:6]); m.close()\n"
    "print(bz2.decompress(bz2.compress(b'abc' * 100)) == b'abc' * 100)\n"
    "print(sorted(x.__name__ + ':' + x.__file__.rsplit('/', 1)[-1] for x in (_json, _decimal, _contextvars, _queue, mmap, _bz2)))\n"
    "try:\n"
    "    import _no_such_extension\n"
    "except ImportError as e:\n"
    "    print('ImportError:', e.name)\n"
    "sys.stdout.flush()\n"
    "print('to stderr', file=sys.stderr)\n";

int main(int argc, char **argv)
{
    (void)argc;
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, argv[0]);
    if (PyStatus_Exception(status)) Py_ExitStatusException(status);
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) Py_ExitStatusException(status);
    int rc = PyRun_SimpleString(script);
    if (Py_FinalizeEx() < 0) return 120;
    return rc == 0 ? 7 : 1;
}
