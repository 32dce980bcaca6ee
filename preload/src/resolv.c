/* The resolver state's h_errno field: its offset in glibc's struct __res_state is taken from
 * <resolv.h> here rather than hard-coded in Rust. */
#include <resolv.h>

void guard_set_res_h_errno(res_state statp, int value) {
    if (statp)
        statp->res_h_errno = value;
}
