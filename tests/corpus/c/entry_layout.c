/* The process entry layout: argv, its NULL, envp right after, its NULL, then the auxiliary vector, as
   the kernel lays them out; initializers get the same block as main; environ, program_invocation_name
   and getauxval agree with it. Only what is the same in every correct run is printed. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

static int init_argc = -1;
static char **init_argv, **init_envp;

__attribute__((constructor)) static void record_entry(int argc, char **argv, char **envp)
{
  init_argc = argc;
  init_argv = argv;
  init_envp = envp;
}

int main(int argc, char **argv, char **envp)
{
  printf("argc %d\n", argc);
  for (int i = 1; i < argc; i++) printf("argv[%d] \"%s\"\n", i, argv[i]);
  printf("argv[argc] is NULL: %d\n", argv[argc] == NULL);
  printf("envp follows argv: %d\n", envp == argv + argc + 1);
  printf("environ is envp: %d\n", environ == envp);
  printf("initializer got main's block: %d\n", init_argc == argc && init_argv == argv && init_envp == envp);
  printf("program_invocation_name is argv[0]: %d\n", program_invocation_name == argv[0]);
  const char *slash = strrchr(argv[0], '/');
  printf("program_invocation_short_name is its base name: %d\n",
         strcmp(program_invocation_short_name, slash ? slash + 1 : argv[0]) == 0);

  char **e = envp;
  while (*e) e++;
  Elf64_auxv_t *auxv = (Elf64_auxv_t *)(e + 1);
  int entries = 0, disagreeing = 0, pagesz = 0, random = 0, hwcap = 0;
  for (Elf64_auxv_t *a = auxv; a->a_type != AT_NULL && entries < 256; a++, entries++)
  {
    if (getauxval(a->a_type) != a->a_un.a_val) disagreeing++;
    if (a->a_type == AT_PAGESZ)
      pagesz = a->a_un.a_val == (unsigned long)sysconf(_SC_PAGESIZE) && a->a_un.a_val == getauxval(AT_PAGESZ);
    if (a->a_type == AT_RANDOM) random = a->a_un.a_val != 0;
    if (a->a_type == AT_HWCAP) hwcap = 1;
  }
  printf("auxv after envp: %s\n", entries > 0 && entries < 256 ? "yes" : "no");
  printf("auxv entries that getauxval disagrees with: %d\n", disagreeing);
  printf("AT_PAGESZ equals getauxval and sysconf: %d\n", pagesz);
  printf("AT_RANDOM set: %d\n", random);
  printf("AT_HWCAP present: %d\n", hwcap);
  return 0;
}
