/* The prebuilt `core` library is compiled with unwinding tables that name
 * rust_eh_personality. This library is built with panic=abort and never unwinds, so the
 * personality routine is never called; this hidden definition only satisfies the reference
 * (without it the loader fails every process with "undefined symbol"). */
__attribute__((visibility("hidden"))) void rust_eh_personality(void)
{
    __builtin_trap();
}
