/*
 * Copyright (c) 2013 Damien Miller <djm@mindrot.org>
 *
 * Adapted by Will Cosgrove <will@panic.com> for libssh2
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

/* $OpenBSD: cipher-chachapoly.c,v 1.8 2016/08/03 05:41:57 djm Exp $ */

#include "libssh2_priv.h"
#include "cipher-chachapoly.h"

static int chachapoly_timingsafe_bcmp(const void *b1, const void *b2, size_t n)
{
    const unsigned char *p1 = b1, *p2 = b2;
    int ret = 0;

    for(; n > 0; n--)
        ret |= *p1++ ^ *p2++;
    return ret != 0;
}

#ifdef LIBSSH2_CHACHAPOLY_EVP

/* xfer patch: ChaCha20 through OpenSSL's EVP (see cipher-chachapoly.h), after
   OpenSSH's cipher-chachapoly-libcrypto.c. */

#include <limits.h>

/* EVP_chacha20's IV: block counter (32-bit LE) || nonce (96 bits). The SSH
   construction's IV is the 64-bit big-endian sequence number with a 64-bit
   block counter; laid out as counter (4 bytes) || 4 zero bytes || seqnr
   (8 bytes), both agree for every counter below 2^32 blocks (256 GiB), far
   beyond a packet. */
#define CHACHAPOLY_EVP_IVLEN 16

void chachapoly_free(struct chachapoly_ctx *ctx)
{
    /* EVP_CIPHER_CTX_free() wipes the key schedule; NULL is a no-op */
    EVP_CIPHER_CTX_free(ctx->main_evp);
    EVP_CIPHER_CTX_free(ctx->header_evp);
    ctx->main_evp = NULL;
    ctx->header_evp = NULL;
}

int chachapoly_init(struct chachapoly_ctx *ctx, const unsigned char *key,
                    size_t keylen)
{
    ctx->main_evp = NULL;
    ctx->header_evp = NULL;
    if(keylen != (32 + 32)) /* 2 x 256-bit keys */
        return LIBSSH2_ERROR_INVAL;
    ctx->main_evp = EVP_CIPHER_CTX_new();
    ctx->header_evp = EVP_CIPHER_CTX_new();
    if(!ctx->main_evp || !ctx->header_evp ||
       EVP_CipherInit_ex(ctx->main_evp, EVP_chacha20(), NULL, key, NULL,
                         1) != 1 ||
       EVP_CipherInit_ex(ctx->header_evp, EVP_chacha20(), NULL, key + 32,
                         NULL, 1) != 1 ||
       EVP_CIPHER_CTX_iv_length(ctx->main_evp) != CHACHAPOLY_EVP_IVLEN ||
       EVP_CIPHER_CTX_iv_length(ctx->header_evp) != CHACHAPOLY_EVP_IVLEN) {
        chachapoly_free(ctx);
        return LIBSSH2_ERROR_ALLOC;
    }
    return 0;
}

/* XORs 'len' bytes of 'src' with the key stream of 'evp' at 'iv' into 'dest'
   ('dest' == 'src' is allowed). Encryption and decryption are the same XOR,
   so the context is always in encrypt mode. 0 on success, -1 on failure. */
static int chachapoly_evp_xor(EVP_CIPHER_CTX *evp, const unsigned char *iv,
                              unsigned char *dest, const unsigned char *src,
                              size_t len)
{
    int outl = 0;

    if(len > INT_MAX)
        return -1;
    if(EVP_CipherInit_ex(evp, NULL, NULL, NULL, iv, 1) != 1)
        return -1;
    if(EVP_EncryptUpdate(evp, dest, &outl, src, (int)len) != 1 ||
       outl != (int)len)
        return -1;
    return 0;
}

/* The IV for sequence number 'seqnr', block counter 0. */
static void chachapoly_evp_iv(unsigned char iv[CHACHAPOLY_EVP_IVLEN],
                              libssh2_uint64_t seqnr)
{
    unsigned char *ptr = &iv[8];

    memset(iv, 0, CHACHAPOLY_EVP_IVLEN);
    ssh2_store_u64(&ptr, seqnr);
}

/* The contract and the steps of the portable chachapoly_crypt() under
   #else below; only the ChaCha20 calls differ. */
int chachapoly_crypt(struct chachapoly_ctx *ctx, libssh2_uint64_t seqnr,
                     unsigned char *dest, const unsigned char *src, size_t len,
                     size_t aadlen, int do_encrypt)
{
    unsigned char iv[CHACHAPOLY_EVP_IVLEN];
    unsigned char expected_tag[POLY1305_TAGLEN], poly_key[POLY1305_KEYLEN];
    int r = LIBSSH2_ERROR_DECRYPT;  /* fail */

    if(!ctx->main_evp || !ctx->header_evp)
        return r;

    /* Block 0 of the main key stream is the Poly1305 key. */
    chachapoly_evp_iv(iv, seqnr);
    memset(poly_key, 0, sizeof(poly_key));
    if(chachapoly_evp_xor(ctx->main_evp, iv, poly_key, poly_key,
                          sizeof(poly_key)))
        goto out;

    /* If decrypting, check tag before anything else */
    if(!do_encrypt) {
        const unsigned char *tag = src + aadlen + len;

        poly1305_auth(expected_tag, src, aadlen + len, poly_key);
        if(chachapoly_timingsafe_bcmp(expected_tag, tag, POLY1305_TAGLEN))
            goto out;
    }

    /* The length header: the header key's stream from block 0. */
    if(aadlen) {
        if(chachapoly_evp_xor(ctx->header_evp, iv, dest, src, aadlen))
            goto out;
    }

    /* The payload: the main key's stream from block 1. */
    iv[0] = 1;
    if(chachapoly_evp_xor(ctx->main_evp, iv, dest + aadlen, src + aadlen,
                          len))
        goto out;

    /* If encrypting, calculate and append tag */
    if(do_encrypt)
        poly1305_auth(dest + aadlen + len, dest, aadlen + len, poly_key);

    r = LIBSSH2_ERROR_NONE;
out:
    ssh2_explicit_zero(expected_tag, sizeof(expected_tag));
    ssh2_explicit_zero(iv, sizeof(iv));
    ssh2_explicit_zero(poly_key, sizeof(poly_key));
    return r;
}

/* Decrypt and extract the encrypted packet length */
int chachapoly_get_length(struct chachapoly_ctx *ctx, unsigned int *plenp,
                          libssh2_uint64_t seqnr, const unsigned char *cp,
                          size_t len)
{
    unsigned char buf[4], iv[CHACHAPOLY_EVP_IVLEN];
    int r;

    if(len < 4 || !ctx->header_evp)
        return -1;  /* fail */
    chachapoly_evp_iv(iv, seqnr);
    r = chachapoly_evp_xor(ctx->header_evp, iv, buf, cp, 4);
    if(r == 0)
        *plenp = ssh2_ntohu32(buf);
    ssh2_explicit_zero(iv, sizeof(iv));
    return r;  /* 0: success, -1: fail */
}

#else /* !LIBSSH2_CHACHAPOLY_EVP */

void chachapoly_free(struct chachapoly_ctx *ctx)
{
    ssh2_explicit_zero(ctx, sizeof(*ctx));
}

int chachapoly_init(struct chachapoly_ctx *ctx, const unsigned char *key,
                    size_t keylen)
{
    if(keylen != (32 + 32)) /* 2 x 256-bit keys */
        return LIBSSH2_ERROR_INVAL;
    chacha_keysetup(&ctx->main_ctx, key, 256);
    chacha_keysetup(&ctx->header_ctx, key + 32, 256);
    return 0;
}

/*
 * chachapoly_crypt() operates as following:
 * En/decrypt with header key 'aadlen' bytes from 'src', storing result
 * to 'dest'. The ciphertext here is treated as additional authenticated
 * data for MAC calculation.
 * En/decrypt 'len' bytes at offset 'aadlen' from 'src' to 'dest'. Use
 * POLY1305_TAGLEN bytes at offset 'len'+'aadlen' as the authentication
 * tag. This tag is written on encryption and verified on decryption.
 */
int chachapoly_crypt(struct chachapoly_ctx *ctx, libssh2_uint64_t seqnr,
                     unsigned char *dest, const unsigned char *src, size_t len,
                     size_t aadlen, int do_encrypt)
{
    static const unsigned char one[8] = {
        1, 0, 0, 0, 0, 0, 0, 0  /* NB little-endian */
    };
    unsigned char seqbuf[8];
    unsigned char expected_tag[POLY1305_TAGLEN], poly_key[POLY1305_KEYLEN];
    int r = LIBSSH2_ERROR_DECRYPT;  /* fail */
    unsigned char *ptr = NULL;

    /*
     * Run ChaCha20 once to generate the Poly1305 key. The IV is the
     * packet sequence number.
     */
    memset(poly_key, 0, sizeof(poly_key));
    ptr = &seqbuf[0];
    ssh2_store_u64(&ptr, seqnr);
    chacha_ivsetup(&ctx->main_ctx, seqbuf, NULL);
    chacha_encrypt_bytes(&ctx->main_ctx, poly_key, poly_key, sizeof(poly_key));

    /* If decrypting, check tag before anything else */
    if(!do_encrypt) {
        const unsigned char *tag = src + aadlen + len;

        poly1305_auth(expected_tag, src, aadlen + len, poly_key);
        if(chachapoly_timingsafe_bcmp(expected_tag, tag, POLY1305_TAGLEN))
            goto out;
    }

    /* Crypt additional data */
    if(aadlen) {
        chacha_ivsetup(&ctx->header_ctx, seqbuf, NULL);
        chacha_encrypt_bytes(&ctx->header_ctx, src, dest, aadlen);
    }

    /* Set Chacha's block counter to 1 */
    chacha_ivsetup(&ctx->main_ctx, seqbuf, one);
    chacha_encrypt_bytes(&ctx->main_ctx, src + aadlen, dest + aadlen, len);

    /* If encrypting, calculate and append tag */
    if(do_encrypt)
        poly1305_auth(dest + aadlen + len, dest, aadlen + len, poly_key);

    r = LIBSSH2_ERROR_NONE;
out:
    ssh2_explicit_zero(expected_tag, sizeof(expected_tag));
    ssh2_explicit_zero(seqbuf, sizeof(seqbuf));
    ssh2_explicit_zero(poly_key, sizeof(poly_key));
    return r;
}

/* Decrypt and extract the encrypted packet length */
int chachapoly_get_length(struct chachapoly_ctx *ctx, unsigned int *plenp,
                          libssh2_uint64_t seqnr, const unsigned char *cp,
                          size_t len)
{
    unsigned char buf[4], seqbuf[8];
    unsigned char *ptr = NULL;

    if(len < 4)
        return -1;  /* fail */
    ptr = &seqbuf[0];
    ssh2_store_u64(&ptr, seqnr);
    chacha_ivsetup(&ctx->header_ctx, seqbuf, NULL);
    chacha_encrypt_bytes(&ctx->header_ctx, cp, buf, 4);
    *plenp = ssh2_ntohu32(buf);
    return 0;  /* success */
}

#endif /* LIBSSH2_CHACHAPOLY_EVP */
