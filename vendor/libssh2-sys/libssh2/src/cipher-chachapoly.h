/* $OpenBSD: cipher-chachapoly.h,v 1.4 2014/06/24 01:13:21 djm Exp $ */

/*
 * Copyright (c) Damien Miller 2013 <djm@mindrot.org>
 *
 * Permission to use, copy, modify, and distribute this software for any
 * purpose with or without fee is hereby granted, provided that the above
 * copyright notice and this permission notice appear in all copies.
 *
 * THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 * WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 * MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 * ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 * WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 * ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 * OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
 *
 * SPDX-License-Identifier: BSD-2-Clause
 */
#ifndef CHACHA_POLY_AEAD_H
#define CHACHA_POLY_AEAD_H

#include "chacha.h"
#include "poly1305.h"

#define CHACHA_KEYLEN   32 /* Only 256-bit keys used here */

/* xfer patch: with OpenSSL 1.1.0 or later, ChaCha20 runs in OpenSSL's
   EVP_chacha20 (assembly where the CPU has it), as OpenSSH's
   cipher-chachapoly-libcrypto.c does, instead of the portable C chacha.c;
   with OpenSSL 3, Poly1305 runs in its EVP_MAC "POLY1305" instead of
   poly1305.c. LibreSSL's and BoringSSL's EVP_chacha20 differ or are missing,
   and wolfSSL is not checked, so they keep the portable code. So does an
   OpenSSL whose providers lack either, found at chachapoly_init(). */
#if defined(LIBSSH2_OPENSSL) && !defined(LIBSSH2_WOLFSSL) && \
    !defined(LIBRESSL_VERSION_NUMBER) && !defined(OPENSSL_IS_BORINGSSL) && \
    !defined(OPENSSL_NO_CHACHA) && OPENSSL_VERSION_NUMBER >= 0x10100000L
#define LIBSSH2_CHACHAPOLY_EVP 1
#if OPENSSL_VERSION_NUMBER >= 0x30000000L && !defined(OPENSSL_NO_POLY1305)
#define LIBSSH2_CHACHAPOLY_EVP_MAC 1
#endif
#endif

struct chachapoly_ctx {
    /* the portable key schedules, used when main_evp is NULL */
    struct chacha_ctx main_ctx, header_ctx;
#ifdef LIBSSH2_CHACHAPOLY_EVP
    EVP_CIPHER_CTX *main_evp, *header_evp;  /* both set, or both NULL */
#endif
#ifdef LIBSSH2_CHACHAPOLY_EVP_MAC
    EVP_MAC_CTX *poly_mac;  /* NULL: poly1305.c */
#endif
};

int chachapoly_init(struct chachapoly_ctx *ctx, const unsigned char *key,
                    size_t keylen);
int chachapoly_crypt(struct chachapoly_ctx *ctx, libssh2_uint64_t seqnr,
                     unsigned char *dest, const unsigned char *src, size_t len,
                     size_t aadlen, int do_encrypt);
int chachapoly_get_length(struct chachapoly_ctx *ctx,
                          unsigned int *plenp, libssh2_uint64_t seqnr,
                          const unsigned char *cp, size_t len);
/* xfer patch: releases what chachapoly_init() set up (the OpenSSL
   contexts) and wipes the key state; safe to call twice, and after a failed
   init. */
void chachapoly_free(struct chachapoly_ctx *ctx);

#endif /* CHACHA_POLY_AEAD_H */
