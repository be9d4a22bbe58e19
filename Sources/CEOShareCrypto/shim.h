#ifndef CEOSHARE_CRYPTO_SHIM_H
#define CEOSHARE_CRYPTO_SHIM_H
/* SHA-256 and MD5 from OpenSSL's libcrypto: hardware-accelerated digests for checksums
   streamed while bytes move, never in a second pass. */
#include <openssl/evp.h>
#endif
