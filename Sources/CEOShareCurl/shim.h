#ifndef CEOSHARE_CURL_SHIM_H
#define CEOSHARE_CURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic: Swift cannot call them, so each
   argument kind gets a typed wrapper. */
static inline CURLcode eoshare_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode eoshare_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode eoshare_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode eoshare_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode eoshare_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }

typedef size_t (*eoshare_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode eoshare_curl_setopt_data_cb(CURL *h, CURLoption o, eoshare_curl_data_cb cb) { return curl_easy_setopt(h, o, cb); }

static inline CURLcode eoshare_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode eoshare_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode eoshare_curl_getinfo_string(CURL *h, CURLINFO i, char **v) { return curl_easy_getinfo(h, i, v); }

static inline CURLMcode eoshare_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

/* CURLMsg keeps its result in a union; Swift reads it through these. */
static inline int eoshare_curl_msg_is_done(const CURLMsg *m) { return m->msg == CURLMSG_DONE; }
static inline CURLcode eoshare_curl_msg_result(const CURLMsg *m) { return m->data.result; }

/* Bit-mask macros with casts, which Swift does not import. */
static const long EOSHARE_CURLAUTH_BASIC = (long)CURLAUTH_BASIC;
static const long EOSHARE_CURLAUTH_BEARER = (long)CURLAUTH_BEARER;
static const long EOSHARE_CURLSSH_AUTH_PUBLICKEY = (long)CURLSSH_AUTH_PUBLICKEY;
static const long EOSHARE_CURLSSH_AUTH_PASSWORD = (long)CURLSSH_AUTH_PASSWORD;
static const long EOSHARE_CURLSSH_AUTH_KEYBOARD = (long)CURLSSH_AUTH_KEYBOARD;
#endif
