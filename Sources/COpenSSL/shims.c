#include "COpenSSL.h"
#include <string.h>

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

int COpenSSL_X509_has_tls_feature(X509 *certificate, long feature) {
    int critical = 0;
    TLS_FEATURE *features = X509_get_ext_d2i(certificate, NID_tlsfeature, &critical, NULL);
    if (features == NULL) return critical == -1 ? 0 : -1;  /* -1: absent; otherwise present but bad */
    int found = 0;
    for (int i = 0; i < sk_ASN1_INTEGER_num(features); i++) {
        if (ASN1_INTEGER_get(sk_ASN1_INTEGER_value(features, i)) == feature) found = 1;
    }
    sk_ASN1_INTEGER_pop_free(features, ASN1_INTEGER_free);
    return found;
}

/* Appends the URIs among `names` to a newline-joined buffer holding `*count` of them. */
static void append_uris(GENERAL_NAMES *names, BIO *out, int *count) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        if (name->type != GEN_URI) continue;
        ASN1_IA5STRING *uri = name->d.uniformResourceIdentifier;
        if ((*count)++ > 0) BIO_write(out, "\n", 1);
        BIO_write(out, ASN1_STRING_get0_data(uri), ASN1_STRING_length(uri));
    }
}

static char *take_bio(BIO *out, int count) {
    char *result = NULL;
    if (count > 0) {
        char *data = NULL;
        long length = BIO_get_mem_data(out, &data);
        result = OPENSSL_malloc(length + 1);
        if (result != NULL) {
            memcpy(result, data, length);
            result[length] = 0;
        }
    }
    BIO_free(out);
    return result;
}

/* The full-name URIs of a decoded CRLDistributionPoints (NULL: absent or undecodable). */
static char *distribution_point_uris(CRL_DIST_POINTS *points, int critical, int *present) {
    if (points == NULL) {
        *present = critical == -1 ? 0 : -1;
        return NULL;
    }
    *present = 1;
    BIO *out = BIO_new(BIO_s_mem());
    int count = 0;
    for (int i = 0; out != NULL && i < sk_DIST_POINT_num(points); i++) {
        DIST_POINT *point = sk_DIST_POINT_value(points, i);
        if (point->distpoint != NULL && point->distpoint->type == 0) {
            append_uris(point->distpoint->name.fullname, out, &count);
        }
    }
    sk_DIST_POINT_pop_free(points, DIST_POINT_free);
    return out == NULL ? NULL : take_bio(out, count);
}

char *COpenSSL_X509_crl_distribution_uris(X509 *certificate, int *present) {
    int critical = 0;
    CRL_DIST_POINTS *points = X509_get_ext_d2i(certificate, NID_crl_distribution_points, &critical, NULL);
    return distribution_point_uris(points, critical, present);
}

char *COpenSSL_X509_CRL_freshest_uris(X509_CRL *crl, int *present) {
    int critical = 0;
    CRL_DIST_POINTS *points = X509_CRL_get_ext_d2i(crl, NID_freshest_crl, &critical, NULL);
    return distribution_point_uris(points, critical, present);
}

char *COpenSSL_X509_CRL_issuing_distribution_uris(X509_CRL *crl, int *present) {
    int critical = 0;
    ISSUING_DIST_POINT *point = X509_CRL_get_ext_d2i(crl, NID_issuing_distribution_point, &critical, NULL);
    if (point == NULL) {
        *present = critical == -1 ? 0 : -1;
        return NULL;
    }
    *present = 1;
    BIO *out = BIO_new(BIO_s_mem());
    int count = 0;
    if (out != NULL && point->distpoint != NULL && point->distpoint->type == 0) {
        append_uris(point->distpoint->name.fullname, out, &count);
    }
    ISSUING_DIST_POINT_free(point);
    return out == NULL ? NULL : take_bio(out, count);
}
