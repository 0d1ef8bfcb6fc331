#include "CCurl.h"

// libcurl's global initialisation, at load time: before main, while the process has one thread.
// curl_global_init is not thread-safe: it initialises OpenSSL, libssh2 (which registers
// OpenSSL's built-in engines) and others, and run later beside threads that sign it left them
// failing ("unknown group", "command not supported"), as libcurl's documentation warns.
__attribute__((constructor)) static void CCurl_initialize(void) { curl_global_init(CURL_GLOBAL_ALL); }
