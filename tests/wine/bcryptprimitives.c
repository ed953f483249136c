/* Wine 8 (Debian 12) lacks bcryptprimitives.dll, where Rust's standard
 * library takes its randomness on Windows 10 and later (ProcessPrng).
 * This stand-in, built with mingw-w64 and put beside pond.exe only for the
 * Wine run of the tests, answers from RtlGenRandom (advapi32), which Wine
 * has. It is never shipped: real Windows has the DLL. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
