// The libp11 engine, and nothing else: the ENGINE API is deprecated in OpenSSL 3, so this file
// alone is compiled with it (COpenSSL.h hides deprecated declarations from everything else).
#include <openssl/engine.h>

ENGINE *COpenSSL_pkcs11_open(const char *module_path);
int COpenSSL_pkcs11_set_pin(ENGINE *engine, const char *pin);
EVP_PKEY *COpenSSL_pkcs11_load_private_key(ENGINE *engine, const char *uri);
int COpenSSL_pkcs11_reinitialize(ENGINE *engine, int initialized);

ENGINE *COpenSSL_pkcs11_open(const char *module_path) {
    // Found by the dynamic loader in OpenSSL's engines directory; ENGINE_by_id does not add a
    // dynamically loaded engine to the global list, so this instance is ours alone.
    ENGINE *engine = ENGINE_by_id("pkcs11");
    if (engine == NULL) return NULL;
    if (!ENGINE_ctrl_cmd_string(engine, "QUIET", NULL, 0) ||
        !ENGINE_ctrl_cmd_string(engine, "MODULE_PATH", module_path, 0) || !ENGINE_init(engine)) {
        ENGINE_free(engine);
        return NULL;
    }
    // ENGINE_init took a functional reference; the structural one of ENGINE_by_id is kept too,
    // so ENGINE_finish in COpenSSL_pkcs11_reinitialize never frees the engine itself.
    return engine;
}

int COpenSSL_pkcs11_set_pin(ENGINE *engine, const char *pin) {
    return ENGINE_ctrl_cmd_string(engine, "PIN", pin, 0);
}

EVP_PKEY *COpenSSL_pkcs11_load_private_key(ENGINE *engine, const char *uri) {
    EVP_PKEY *key = ENGINE_load_private_key(engine, uri, NULL, NULL);
    if (key == NULL) return NULL;
    // The key's methods stay libp11's; only its engine reference is dropped, so that finishing
    // the engine (recovery) is not held off by a key, and the owner decides the key's lifetime.
    if (EVP_PKEY_set1_engine(key, NULL) != 1) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

int COpenSSL_pkcs11_reinitialize(ENGINE *engine, int initialized) {
    // Never the engine's RE_ENUMERATE command: with libp11 0.4.12 it frees slots twice.
    if (initialized) {
        if (!ENGINE_finish(engine)) return 0;
        if (!ENGINE_up_ref(engine)) return 0;  // ENGINE_finish dropped one structural reference
    }
    return ENGINE_init(engine);
}
