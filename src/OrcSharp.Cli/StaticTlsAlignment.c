/* Linked into the AArch64 executor only. glibc fixes the alignment of every static TLS block at process
   start from the executable's own PT_TLS (AArch64 would otherwise use 32 bytes here), and a JIT'd
   module's block can never be aligned more than that in every thread. One 64-byte-aligned thread-local
   raises it to the 64 bytes x86-64 has anyway, so cache-line-aligned thread-locals link on both. */
__thread char orcsharp_static_tls_alignment[1] __attribute__((aligned(64)));
