#include "COpenSSL.h"

void COpenSSL_free(void *pointer) { OPENSSL_free(pointer); }

long COpenSSL_BIO_get_mem_data(BIO *bio, const char **data) {
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    *data = p;
    return n;
}

EVP_PKEY *COpenSSL_EC_keygen(const char *curve) { return EVP_EC_gen(curve); }

EVP_PKEY *COpenSSL_RSA_keygen(unsigned int bits) { return EVP_RSA_gen(bits); }

void COpenSSL_X509V3_set_ctx_nodb(X509V3_CTX *ctx) { X509V3_set_ctx_nodb(ctx); }

STACK_OF(X509) *COpenSSL_sk_X509_new_null(void) { return sk_X509_new_null(); }
int COpenSSL_sk_X509_push(STACK_OF(X509) *stack, X509 *certificate) { return sk_X509_push(stack, certificate); }
int COpenSSL_sk_X509_num(const STACK_OF(X509) *stack) { return sk_X509_num(stack); }
X509 *COpenSSL_sk_X509_value(const STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }
void COpenSSL_sk_X509_free(STACK_OF(X509) *stack) { sk_X509_free(stack); }
void COpenSSL_sk_X509_pop_free(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }

int COpenSSL_sk_X509_EXTENSION_num(const STACK_OF(X509_EXTENSION) *stack) { return sk_X509_EXTENSION_num(stack); }

unsigned long COpenSSL_XN_FLAG_RFC2253_UTF8(void) { return XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB; }

STACK_OF(OPENSSL_STRING) *COpenSSL_X509_get1_ocsp(X509 *certificate) { return X509_get1_ocsp(certificate); }
int COpenSSL_sk_OPENSSL_STRING_num(const STACK_OF(OPENSSL_STRING) *stack) { return sk_OPENSSL_STRING_num(stack); }
const char *COpenSSL_sk_OPENSSL_STRING_value(const STACK_OF(OPENSSL_STRING) *stack, int index) {
    return sk_OPENSSL_STRING_value(stack, index);
}
void COpenSSL_X509_email_free(STACK_OF(OPENSSL_STRING) *stack) { X509_email_free(stack); }

int COpenSSL_sk_ASN1_INTEGER_num(const STACK_OF(ASN1_INTEGER) *stack) { return sk_ASN1_INTEGER_num(stack); }
ASN1_INTEGER *COpenSSL_sk_ASN1_INTEGER_value(const STACK_OF(ASN1_INTEGER) *stack, int index) {
    return sk_ASN1_INTEGER_value(stack, index);
}

int COpenSSL_sk_DIST_POINT_num(const STACK_OF(DIST_POINT) *stack) { return sk_DIST_POINT_num(stack); }
DIST_POINT *COpenSSL_sk_DIST_POINT_value(const STACK_OF(DIST_POINT) *stack, int index) {
    return sk_DIST_POINT_value(stack, index);
}

int COpenSSL_sk_GENERAL_NAME_num(const STACK_OF(GENERAL_NAME) *stack) { return sk_GENERAL_NAME_num(stack); }
GENERAL_NAME *COpenSSL_sk_GENERAL_NAME_value(const STACK_OF(GENERAL_NAME) *stack, int index) {
    return sk_GENERAL_NAME_value(stack, index);
}
