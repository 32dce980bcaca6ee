/* The prebuilt `core` library is compiled with unwinding tables that name
 * rust_eh_personality. This library is built with panic=abort and never unwinds, so the
 * personality routine is never called; this hidden definition only satisfies the reference
 * (weak, so the real one wins where std is linked, as in unit-test builds)
 * (without it the loader fails every process with "undefined symbol"). */
__attribute__((weak, visibility("hidden"))) void rust_eh_personality(void)
{
    __builtin_trap();
}
