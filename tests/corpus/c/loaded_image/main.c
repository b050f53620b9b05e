/* The program is a loaded image to the rest of the process: dl_iterate_phdr reports its segments,
   thread-locals and unwind table, dladdr names its exported functions and data, and backtrace_symbols
   (dladdr inside libc) names its frames; from the program's own code and from a library (plugin/,
   built into plugin.so, path in CORPUS_PLUGIN). Only facts that hold for any load address are printed.
   The native oracle is linked with -rdynamic. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__thread int tls_counter = 7;
__thread char tls_buffer[100];
int global_data = 42;
int global_bss[64];

static const char *yes(int c) { return c ? "yes" : "no"; }

__attribute__((noinline)) int exported_leaf(int x) { return x * 3 + global_data; }

struct image
{
    uintptr_t addr;      /* looked for */
    int found, exec, writable, has_tls, has_eh_hdr, has_dynamic;
    size_t tls_modid, tls_memsz;
    void *tls_data;
    const unsigned char *eh_hdr;
};

static int find_image(struct dl_phdr_info *info, size_t size, void *data)
{
    struct image *im = data;
    (void)size;
    int found = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
    {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && im->addr - start < ph->p_memsz)
        {
            found = 1;
            im->exec = (ph->p_flags & PF_X) != 0;
            im->writable = (ph->p_flags & PF_W) != 0;
        }
    }
    if (!found) return 0;
    im->found = 1;
    for (int i = 0; i < info->dlpi_phnum; i++)
    {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_TLS) { im->has_tls = 1; im->tls_memsz = ph->p_memsz; }
        if (ph->p_type == PT_GNU_EH_FRAME) { im->has_eh_hdr = 1; im->eh_hdr = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr); }
        if (ph->p_type == PT_DYNAMIC) im->has_dynamic = 1;
    }
    im->tls_modid = info->dlpi_tls_modid;
    im->tls_data = info->dlpi_tls_data;
    return 1;
}

static struct image image_of(const void *p)
{
    struct image im = { .addr = (uintptr_t)p };
    dl_iterate_phdr(find_image, &im);
    return im;
}

/* An encoded pointer of .eh_frame_hdr (absolute, pc-relative or data-relative; 4 or 8 bytes). */
static uintptr_t read_encoded(const unsigned char **p, unsigned char enc, const unsigned char *hdr)
{
    const unsigned char *at = *p;
    uintptr_t v;
    switch (enc & 0x0f)
    {
    case 0x00: case 0x04: case 0x0c: { uint64_t u; memcpy(&u, at, 8); v = (uintptr_t)u; *p += 8; break; }
    case 0x03: { uint32_t u; memcpy(&u, at, 4); v = u; *p += 4; break; }
    case 0x0b: { int32_t s; memcpy(&s, at, 4); v = (uintptr_t)(intptr_t)s; *p += 4; break; }
    default: return 0;
    }
    if ((enc & 0x70) == 0x10) v += (uintptr_t)at;
    else if ((enc & 0x70) == 0x30) v += (uintptr_t)hdr;
    return v;
}

/* Whether the binary search table of .eh_frame_hdr has an FDE starting at fn. */
static int eh_hdr_has_fde_for(const unsigned char *hdr, const void *fn)
{
    if (hdr[0] != 1) return 0;
    const unsigned char *p = hdr + 4;
    uintptr_t eh_frame = read_encoded(&p, hdr[1], hdr);
    uintptr_t count = read_encoded(&p, hdr[2], hdr);
    if (eh_frame == 0) return 0;
    for (uintptr_t i = 0; i < count; i++)
    {
        uintptr_t loc = read_encoded(&p, hdr[3], hdr), fde = read_encoded(&p, hdr[3], hdr);
        uint32_t cie_pointer;
        memcpy(&cie_pointer, (const void *)(fde + 4), 4);
        if (loc == (uintptr_t)fn && cie_pointer != 0) return 1;
    }
    return 0;
}

static void report_tls(const char *who)
{
    struct image im = image_of((void *)exported_leaf);
    uintptr_t mine = (uintptr_t)&tls_counter, block = (uintptr_t)im.tls_data;
    printf("%s: module id set: %s, tls_counter in the reported block: %s, tls_buffer too: %s\n", who,
           yes(im.tls_modid != 0), yes(block != 0 && mine - block < im.tls_memsz),
           yes(block != 0 && (uintptr_t)tls_buffer - block < im.tls_memsz));
}

static void *thread_main(void *arg)
{
    (void)arg;
    tls_counter++;
    report_tls("new thread");
    return NULL;
}

/* The two innermost frames as backtrace_symbols names them ("file(symbol+0xoff) [addr]"). */
__attribute__((noinline)) int bt_inner(int depth)
{
    void *frames[8];
    int n = backtrace(frames, 8);
    char **names = backtrace_symbols(frames, n);
    for (int i = 0; i < 2 && i < n; i++)
    {
        const char *open = strchr(names[i], '('), *plus = open ? strchr(open, '+') : NULL;
        printf("backtrace frame %d: %.*s\n", i, open && plus ? (int)(plus - open - 1) : 1, open && plus ? open + 1 : "?");
    }
    free(names);
    return n + depth;
}

__attribute__((noinline)) int bt_outer(int depth) { return bt_inner(depth + 1) + 1; }

int main(void)
{
    struct image code = image_of((void *)main), data = image_of(&global_data), bss = image_of(global_bss);
    printf("main: in a PT_LOAD: %s, executable: %s\n", yes(code.found), yes(code.exec));
    printf("global_data: in a writable PT_LOAD: %s; global_bss: %s\n", yes(data.found && data.writable), yes(bss.found && bss.writable));
    printf("image has PT_DYNAMIC: %s, PT_TLS: %s, PT_GNU_EH_FRAME: %s\n", yes(code.has_dynamic), yes(code.has_tls), yes(code.has_eh_hdr));
    printf("FDE of exported_leaf in .eh_frame_hdr: %s\n", yes(code.has_eh_hdr && eh_hdr_has_fde_for(code.eh_hdr, (void *)exported_leaf)));
    report_tls("main thread");
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);

    Dl_info info;
    int ok = dladdr((void *)exported_leaf, &info);
    printf("dladdr(exported_leaf): %s, name %s, exact: %s, file named: %s, base below: %s\n", yes(ok),
           ok && info.dli_sname ? info.dli_sname : "-", yes(ok && info.dli_saddr == (void *)exported_leaf),
           yes(ok && info.dli_fname && info.dli_fname[0]), yes(ok && (uintptr_t)info.dli_fbase <= (uintptr_t)exported_leaf));
    ok = dladdr((char *)exported_leaf + 1, &info);
    printf("dladdr(exported_leaf + 1): name %s\n", ok && info.dli_sname ? info.dli_sname : "-");
    ok = dladdr(&global_data, &info);
    printf("dladdr(&global_data): name %s\n", ok && info.dli_sname ? info.dli_sname : "-");
    ok = dladdr(&global_bss[10], &info);
    printf("dladdr(&global_bss[10]): name %s\n", ok && info.dli_sname ? info.dli_sname : "-");
    printf("bt: %d\n", bt_outer(0) > 2);

    const char *path = getenv("CORPUS_PLUGIN");
    void *h = path ? dlopen(path, RTLD_NOW) : NULL;
    if (!h) { printf("dlopen failed: %s\n", path ? dlerror() : "CORPUS_PLUGIN is not set"); return 1; }
    void (*probe)(void *, void *) = (void (*)(void *, void *))dlsym(h, "probe_from_library");
    probe((void *)exported_leaf, &global_data);
    dlclose(h);
    return exported_leaf(1) == 45 ? 0 : 3;
}
