/* Library code asking about the program's addresses (built into plugin.so). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>

struct query { uintptr_t addr; int found, exec; };

static int visit(struct dl_phdr_info *info, size_t size, void *data)
{
    struct query *q = data;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++)
    {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && q->addr - (info->dlpi_addr + ph->p_vaddr) < ph->p_memsz)
        {
            q->found = 1;
            q->exec = (ph->p_flags & PF_X) != 0;
            return 1;
        }
    }
    return 0;
}

void probe_from_library(void *fn, void *data)
{
    struct query q = { (uintptr_t)fn, 0, 0 };
    dl_iterate_phdr(visit, &q);
    printf("library: the program's function is in an executable PT_LOAD: %s\n", q.found && q.exec ? "yes" : "no");
    Dl_info info;
    int ok = dladdr(fn, &info);
    printf("library: dladdr names it %s\n", ok && info.dli_sname ? info.dli_sname : "-");
    ok = dladdr(data, &info);
    printf("library: dladdr names the data %s\n", ok && info.dli_sname ? info.dli_sname : "-");
}
