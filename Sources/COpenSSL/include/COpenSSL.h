#ifndef COPENSSL_H
#define COPENSSL_H

// Nothing deprecated: the Swift layer uses the OpenSSL 3 API only.
#define OPENSSL_NO_DEPRECATED 1
#define OPENSSL_API_COMPAT 30000

#include <stddef.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

// Each function below forwards to an OpenSSL macro or variadic function that Swift cannot import.

/// OPENSSL_free (macro).
void COpenSSL_free(void *pointer);

/// BIO_get_mem_data (macro): the bytes written to a memory BIO so far.
long COpenSSL_BIO_get_mem_data(BIO *bio, const char **data);

/// EVP_EC_gen (macro over the variadic EVP_PKEY_Q_keygen).
EVP_PKEY *COpenSSL_EC_keygen(const char *curve);

/// EVP_RSA_gen (macro over the variadic EVP_PKEY_Q_keygen).
EVP_PKEY *COpenSSL_RSA_keygen(unsigned int bits);

/// X509V3_set_ctx_nodb (macro).
void COpenSSL_X509V3_set_ctx_nodb(X509V3_CTX *ctx);

/// sk_X509_* (macros).
STACK_OF(X509) *COpenSSL_sk_X509_new_null(void);
int COpenSSL_sk_X509_push(STACK_OF(X509) *stack, X509 *certificate);
int COpenSSL_sk_X509_num(const STACK_OF(X509) *stack);
X509 *COpenSSL_sk_X509_value(const STACK_OF(X509) *stack, int index);
void COpenSSL_sk_X509_free(STACK_OF(X509) *stack);
/// sk_X509_pop_free(stack, X509_free): the stack and a reference to each certificate freed.
void COpenSSL_sk_X509_pop_free(STACK_OF(X509) *stack);

/// sk_X509_EXTENSION_* (macros), for extension lists.
int COpenSSL_sk_X509_EXTENSION_num(const STACK_OF(X509_EXTENSION) *stack);

/// The OCSP responder URLs of a certificate's AuthorityInformationAccess (X509_get1_ocsp and
/// the sk_OPENSSL_STRING macros): the count, the URL at an index, and the list freed.
STACK_OF(OPENSSL_STRING) *COpenSSL_X509_get1_ocsp(X509 *certificate);
int COpenSSL_sk_OPENSSL_STRING_num(const STACK_OF(OPENSSL_STRING) *stack);
const char *COpenSSL_sk_OPENSSL_STRING_value(const STACK_OF(OPENSSL_STRING) *stack, int index);
void COpenSSL_X509_email_free(STACK_OF(OPENSSL_STRING) *stack);

/// sk_ASN1_INTEGER_* (macros), for a TLS Feature extension (TLS_FEATURE).
int COpenSSL_sk_ASN1_INTEGER_num(const STACK_OF(ASN1_INTEGER) *stack);
ASN1_INTEGER *COpenSSL_sk_ASN1_INTEGER_value(const STACK_OF(ASN1_INTEGER) *stack, int index);

/// sk_DIST_POINT_* (macros), for CRL Distribution Points and Freshest CRL (CRL_DIST_POINTS).
int COpenSSL_sk_DIST_POINT_num(const STACK_OF(DIST_POINT) *stack);
DIST_POINT *COpenSSL_sk_DIST_POINT_value(const STACK_OF(DIST_POINT) *stack, int index);

/// sk_GENERAL_NAME_* (macros), for GENERAL_NAMES.
int COpenSSL_sk_GENERAL_NAME_num(const STACK_OF(GENERAL_NAME) *stack);
GENERAL_NAME *COpenSSL_sk_GENERAL_NAME_value(const STACK_OF(GENERAL_NAME) *stack, int index);

/// XN_FLAG_RFC2253 without escaping UTF-8 (a composite macro Swift does not import).
unsigned long COpenSSL_XN_FLAG_RFC2253_UTF8(void);

// PKCS#11 keys through the libp11 engine (`libengine-pkcs11-openssl`), in pkcs11.c: the only
// ENGINE calls in the package (OpenSSL 3 deprecates ENGINE; a pkcs11 provider would replace
// these four functions and PKCS11Token.swift, nothing else).

/// A new instance of the `pkcs11` engine (not added to OpenSSL's engine list, so nothing else
/// finds or finishes it), set up for `module_path` and initialised (the module loaded,
/// C_Initialize called). NULL on failure, with the reason on OpenSSL's error queue.
ENGINE *COpenSSL_pkcs11_open(const char *module_path);

/// Sets the PIN the engine logs in with (it keeps a copy). 1 on success.
int COpenSSL_pkcs11_set_pin(ENGINE *engine, const char *pin);

/// Loads the private key `uri` (an RFC 7512 URI without query attributes) from the token. The
/// key holds no reference to the engine: its owner keeps the engine alive. NULL on failure.
EVP_PKEY *COpenSSL_pkcs11_load_private_key(ENGINE *engine, const char *uri);

/// Finishes the engine (C_Finalize, the module unloaded), if `initialized` (the last
/// initialisation succeeded), and initialises it again, which finds the tokens afresh: the way
/// back from a lost session or token. Every key loaded before must be unused from now on.
/// 1 on success.
int COpenSSL_pkcs11_reinitialize(ENGINE *engine, int initialized);

#endif
