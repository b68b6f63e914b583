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

/* xfer patch: ChaCha20, and with OpenSSL 3 Poly1305, through OpenSSL's EVP
   when the library was built against it (see cipher-chachapoly.h), after
   OpenSSH's cipher-chachapoly-libcrypto.c; libssh2's portable chacha.c and
   poly1305.c otherwise, and at run time when OpenSSL does not offer them
   (a provider configuration without ChaCha20 or Poly1305). The protocol
   steps in chachapoly_crypt() are the original's. */

#ifdef LIBSSH2_CHACHAPOLY_EVP
#include <limits.h>

/* EVP_chacha20's IV: block counter (32-bit LE) || nonce (96 bits). The SSH
   construction's is a 64-bit block counter || the 64-bit big-endian sequence
   number; laid out as counter (4 bytes) || 4 zero bytes || seqnr (8 bytes),
   both agree for every counter below 2^32 blocks (256 GiB), far beyond a
   packet. */
#define CHACHAPOLY_EVP_IVLEN 16

/* XORs 'len' bytes of 'src' with the key stream of 'evp' for 'seqnr' from
   block 'counter' into 'dest' ('dest' == 'src' is allowed). Encryption and
   decryption are the same XOR, so the context stays in encrypt mode.
   0 on success, -1 on failure. */
static int chachapoly_evp_xor(EVP_CIPHER_CTX *evp, libssh2_uint64_t seqnr,
                              unsigned char counter, unsigned char *dest,
                              const unsigned char *src, size_t len)
{
    unsigned char iv[CHACHAPOLY_EVP_IVLEN];
    unsigned char *ptr = &iv[8];
    int outl = 0;
    int r = -1;

    if(len > INT_MAX)
        return -1;
    memset(iv, 0, sizeof(iv));
    iv[0] = counter;
    ssh2_store_u64(&ptr, seqnr);
    if(EVP_CipherInit_ex(evp, NULL, NULL, NULL, iv, 1) == 1 &&
       EVP_EncryptUpdate(evp, dest, &outl, src, (int)len) == 1 &&
       outl == (int)len)
        r = 0;
    ssh2_explicit_zero(iv, sizeof(iv));
    return r;
}

/* A context for 'key' (32 bytes), or NULL when OpenSSL cannot give one. */
static EVP_CIPHER_CTX *chachapoly_evp_new(const unsigned char *key)
{
    EVP_CIPHER_CTX *evp = EVP_CIPHER_CTX_new();

    if(evp &&
       (EVP_CipherInit_ex(evp, EVP_chacha20(), NULL, key, NULL, 1) != 1 ||
        EVP_CIPHER_CTX_iv_length(evp) != CHACHAPOLY_EVP_IVLEN)) {
        EVP_CIPHER_CTX_free(evp);
        evp = NULL;
    }
    return evp;
}
#endif /* LIBSSH2_CHACHAPOLY_EVP */

void chachapoly_free(struct chachapoly_ctx *ctx)
{
#ifdef LIBSSH2_CHACHAPOLY_EVP
    /* OpenSSL wipes the key schedules it frees; NULL is a no-op */
    EVP_CIPHER_CTX_free(ctx->main_evp);
    EVP_CIPHER_CTX_free(ctx->header_evp);
#endif
#ifdef LIBSSH2_CHACHAPOLY_EVP_MAC
    EVP_MAC_CTX_free(ctx->poly_mac);
#endif
    /* all pointers NULL again, and the portable key schedules wiped */
    ssh2_explicit_zero(ctx, sizeof(*ctx));
}

int chachapoly_init(struct chachapoly_ctx *ctx, const unsigned char *key,
                    size_t keylen)
{
#ifdef LIBSSH2_CHACHAPOLY_EVP_MAC
    EVP_MAC *mac;
#endif

    memset(ctx, 0, sizeof(*ctx));
    if(keylen != (32 + 32)) /* 2 x 256-bit keys */
        return LIBSSH2_ERROR_INVAL;
#ifdef LIBSSH2_CHACHAPOLY_EVP_MAC
    mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
    if(mac) {
        /* the context holds its own reference; NULL means poly1305.c */
        ctx->poly_mac = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);
    }
#endif
#ifdef LIBSSH2_CHACHAPOLY_EVP
    ctx->main_evp = chachapoly_evp_new(key);
    ctx->header_evp = chachapoly_evp_new(key + 32);
    if(ctx->main_evp && ctx->header_evp)
        return 0;
    /* both or neither: fall back to chacha.c */
    EVP_CIPHER_CTX_free(ctx->main_evp);
    EVP_CIPHER_CTX_free(ctx->header_evp);
    ctx->main_evp = NULL;
    ctx->header_evp = NULL;
#endif
    chacha_keysetup(&ctx->main_ctx, key, 256);
    chacha_keysetup(&ctx->header_ctx, key + 32, 256);
    return 0;
}

/* The key stream of the main ('header' == 0) or the header key for
   'seqnr' from block 'counter' (0 or 1), XORed with 'src' into 'dest'.
   0 on success, -1 on failure. */
static int chachapoly_xor(struct chachapoly_ctx *ctx, int header,
                          libssh2_uint64_t seqnr, unsigned char counter,
                          unsigned char *dest, const unsigned char *src,
                          size_t len)
{
    static const unsigned char one[8] = {
        1, 0, 0, 0, 0, 0, 0, 0  /* NB little-endian */
    };
    unsigned char seqbuf[8];
    unsigned char *ptr = &seqbuf[0];
    struct chacha_ctx *portable;

#ifdef LIBSSH2_CHACHAPOLY_EVP
    if(ctx->main_evp)
        return chachapoly_evp_xor(header ? ctx->header_evp : ctx->main_evp,
                                  seqnr, counter, dest, src, len);
#endif
    portable = header ? &ctx->header_ctx : &ctx->main_ctx;
    ssh2_store_u64(&ptr, seqnr);
    chacha_ivsetup(portable, seqbuf, counter ? one : NULL);
    chacha_encrypt_bytes(portable, src, dest, len);
    ssh2_explicit_zero(seqbuf, sizeof(seqbuf));
    return 0;
}

/* The Poly1305 tag of 'm' under 'key' into 'tag'. 0 on success, -1 on
   failure. */
static int chachapoly_mac(struct chachapoly_ctx *ctx,
                          unsigned char tag[POLY1305_TAGLEN],
                          const unsigned char *m, size_t mlen,
                          const unsigned char key[POLY1305_KEYLEN])
{
#ifdef LIBSSH2_CHACHAPOLY_EVP_MAC
    if(ctx->poly_mac) {
        size_t outl = 0;

        if(EVP_MAC_init(ctx->poly_mac, key, POLY1305_KEYLEN, NULL) != 1 ||
           EVP_MAC_update(ctx->poly_mac, m, mlen) != 1 ||
           EVP_MAC_final(ctx->poly_mac, tag, &outl, POLY1305_TAGLEN) != 1 ||
           outl != POLY1305_TAGLEN)
            return -1;
        return 0;
    }
#else
    (void)ctx;
#endif
    poly1305_auth(tag, m, mlen, key);
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
    unsigned char expected_tag[POLY1305_TAGLEN], poly_key[POLY1305_KEYLEN];
    int r = LIBSSH2_ERROR_DECRYPT;  /* fail */

    /*
     * Run ChaCha20 once to generate the Poly1305 key. The IV is the
     * packet sequence number.
     */
    memset(poly_key, 0, sizeof(poly_key));
    if(chachapoly_xor(ctx, 0, seqnr, 0, poly_key, poly_key, sizeof(poly_key)))
        goto out;

    /* If decrypting, check tag before anything else */
    if(!do_encrypt) {
        const unsigned char *tag = src + aadlen + len;

        if(chachapoly_mac(ctx, expected_tag, src, aadlen + len, poly_key) ||
           chachapoly_timingsafe_bcmp(expected_tag, tag, POLY1305_TAGLEN))
            goto out;
    }

    /* Crypt additional data */
    if(aadlen) {
        if(chachapoly_xor(ctx, 1, seqnr, 0, dest, src, aadlen))
            goto out;
    }

    /* Set Chacha's block counter to 1 */
    if(chachapoly_xor(ctx, 0, seqnr, 1, dest + aadlen, src + aadlen, len))
        goto out;

    /* If encrypting, calculate and append tag */
    if(do_encrypt) {
        if(chachapoly_mac(ctx, dest + aadlen + len, dest, aadlen + len,
                          poly_key))
            goto out;
    }

    r = LIBSSH2_ERROR_NONE;
out:
    ssh2_explicit_zero(expected_tag, sizeof(expected_tag));
    ssh2_explicit_zero(poly_key, sizeof(poly_key));
    return r;
}

/* Decrypt and extract the encrypted packet length */
int chachapoly_get_length(struct chachapoly_ctx *ctx, unsigned int *plenp,
                          libssh2_uint64_t seqnr, const unsigned char *cp,
                          size_t len)
{
    unsigned char buf[4];

    if(len < 4)
        return -1;  /* fail */
    if(chachapoly_xor(ctx, 1, seqnr, 0, buf, cp, 4))
        return -1;  /* fail */
    *plenp = ssh2_ntohu32(buf);
    return 0;  /* success */
}
