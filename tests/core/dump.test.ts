import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { formatBytes, formatLoadReport, parseLoadReport, sniffDump } from '../../src/core/dump.js';

/**
 * A dump to import as the operator's machine sees it before anything connects (its compression,
 * whether it reads as SQL at all), and the records `mi-remote db load|tables` prints (remote/db.sh).
 */

// How real dumps start.
const MYSQLDUMP = '-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)\n--\n-- Host: localhost    Database: shop\n-- ------------------------------------------------------\n-- Server version\t8.0.36\n\n/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n';
const MARIADB_DUMP = '/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19-11.4.2-MariaDB, for debian-linux-gnu (x86_64)\n';
const PHPMYADMIN = '-- phpMyAdmin SQL Dump\n-- version 5.2.1\n-- https://www.phpmyadmin.net/\n--\n-- Host: localhost:3306\n-- Generation Time: Nov 30, 2026 at 10:15 AM\n\nSET SQL_MODE = "NO_AUTO_VALUE_ON_ZERO";\nSTART TRANSACTION;\n';
const ADMINER = '-- Adminer 4.8.1 MySQL 8.0.36 dump\n\nSET NAMES utf8;\nSET time_zone = \'+00:00\';\n';
const HAND = 'CREATE TABLE users (id INT PRIMARY KEY);\nINSERT INTO users VALUES (1);\n';

const GZIP = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03]);
const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x45, 0x00]);

describe('sniffDump', () => {
  it.each([
    ['mysqldump', MYSQLDUMP],
    ['mariadb-dump 11 (sandbox-mode line first)', MARIADB_DUMP],
    ['phpMyAdmin', PHPMYADMIN],
    ['Adminer', ADMINER],
    ['hand-written SQL', HAND],
    ['a # comment', '# dumped by a script\nDROP TABLE IF EXISTS t;\n'],
    ['lowercase statements', 'set names utf8mb4;\ncreate table t (id int);\n'],
    ['blank lines first', '\n\n   \r\n-- MySQL dump\n'],
    ['a UTF-8 byte order mark', '\uFEFF-- phpMyAdmin SQL Dump\n'],
    ['a BOM then blank lines', '\uFEFF\n\nSET NAMES utf8;\n'],
    ['LOCK TABLES', 'LOCK TABLES `users` WRITE;\n'],
    ['USE', 'USE `shop`;\n'],
    ['DELIMITER', 'DELIMITER ;;\n'],
    ['BEGIN', 'BEGIN;\n'],
    ['ALTER', 'ALTER TABLE t ADD c INT;\n'],
    ['REPLACE', 'REPLACE INTO t VALUES (1);\n'],
  ])('plain SQL: %s', (_, text) => {
    expect(sniffDump(Buffer.from(text))).toEqual({ ok: true, compression: 'none' });
  });

  it('gzip and zstd by their magic bytes, taken as they are when their content cannot be seen here', () => {
    expect(sniffDump(GZIP)).toEqual({ ok: true, compression: 'gzip' });
    expect(sniffDump(ZSTD)).toEqual({ ok: true, compression: 'zstd' });
  });

  it('gzip whose content was inflated: that content must read as SQL too', () => {
    const gz = gzipSync(MYSQLDUMP);
    expect(sniffDump(gz, Buffer.from(MYSQLDUMP))).toEqual({ ok: true, compression: 'gzip' });
    expect(sniffDump(gz, Buffer.from('PK\x03\x04\0\0'))).toEqual({ ok: false, problem: 'is gzip-compressed but is not an SQL dump (binary data)' });
    expect(sniffDump(gz, Buffer.from('Hello, this is a letter'))).toEqual({ ok: false, problem: 'is gzip-compressed but is not an SQL dump (it starts with "Hello, this is a letter")' });
    expect(sniffDump(gz, Buffer.alloc(0))).toEqual({ ok: false, problem: 'is gzip-compressed but is empty' });
    // A tar of the dump, gzipped: the tar header has NUL bytes.
    const tarHeader = Buffer.concat([Buffer.from('shop.sql'), Buffer.alloc(100)]);
    expect(sniffDump(gz, tarHeader)).toEqual({ ok: false, problem: 'is gzip-compressed but is not an SQL dump (binary data)' });
  });

  it.each([
    ['bzip2', Buffer.from('BZh91AY&SY\x00\x01')],
    ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04])],
    ['zip', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00])],
    ['7z', Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0x00, 0x04])],
  ])('refuses %s, saying what to do', (name, head) => {
    expect(sniffDump(head)).toEqual({ ok: false, problem: `is ${name}-compressed, which import does not take; decompress it, or recompress with gzip or zstd` });
    // Whatever the caller inflated, the format itself is refused.
    expect(sniffDump(head, Buffer.from(MYSQLDUMP))).toEqual({ ok: false, problem: `is ${name}-compressed, which import does not take; decompress it, or recompress with gzip or zstd` });
  });

  it('refuses binary data and text that is not SQL, quoting how it starts', () => {
    expect(sniffDump(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]))).toEqual({ ok: false, problem: 'is not an SQL dump (binary data)' });
    // UTF-16 (a dump redirected in PowerShell) has NUL bytes.
    expect(sniffDump(Buffer.from('\uFEFF-- MySQL dump', 'utf16le'))).toEqual({ ok: false, problem: 'is not an SQL dump (binary data)' });
    expect(sniffDump(Buffer.from('<!DOCTYPE html>\n<html><head><title>phpMyAdmin</title>'))).toEqual({ ok: false, problem: 'is not an SQL dump (it starts with "<!DOCTYPE html> <html><h")' });
    expect(sniffDump(Buffer.from('{"users": [1, 2, 3]}'))).toEqual({ ok: false, problem: 'is not an SQL dump (it starts with "{"users": [1, 2, 3]}")' });
    expect(sniffDump(Buffer.from('\uFEFFid,name\n1,alice\n'))).toEqual({ ok: false, problem: 'is not an SQL dump (it starts with "id,name 1,alice ")' });
  });

  it('a script is not SQL, though `#` starts a comment: #! (a shebang) is refused', () => {
    expect(sniffDump(Buffer.from('#!/bin/sh\nmysqldump shop > shop.sql\n'))).toEqual({ ok: false, problem: 'is not an SQL dump (it starts with "#!/bin/sh mysqldump shop")' });
    expect(sniffDump(Buffer.from('#!/usr/bin/env python3\nimport os\n'))).toEqual({ ok: false, problem: 'is not an SQL dump (it starts with "#!/usr/bin/env python3 i")' });
    // After a byte order mark or blank lines too.
    expect(sniffDump(Buffer.from('\uFEFF\n  #!/bin/bash\n'))).toMatchObject({ ok: false, problem: 'is not an SQL dump (it starts with "#!/bin/bash ")' });
    // Inside a gzip.
    expect(sniffDump(gzipSync('#!/bin/sh\n'), Buffer.from('#!/bin/sh\n'))).toEqual({ ok: false, problem: 'is gzip-compressed but is not an SQL dump (it starts with "#!/bin/sh ")' });
    // A comment that merely mentions one, and `# !`, are still comments.
    expect(sniffDump(Buffer.from('# made by #!/bin/sh backup.sh\nSET NAMES utf8;\n'))).toEqual({ ok: true, compression: 'none' });
    expect(sniffDump(Buffer.from('# !important\nSET NAMES utf8;\n'))).toEqual({ ok: true, compression: 'none' });
  });

  it('words that only start like SQL keywords are not SQL', () => {
    for (const text of ['Created by hand', 'Dropbox export', 'Useful notes', 'Settings', 'Beginning of the file', 'Starting']) {
      expect(sniffDump(Buffer.from(text))).toMatchObject({ ok: false });
    }
  });

  it('refuses an empty file', () => {
    expect(sniffDump(Buffer.alloc(0))).toEqual({ ok: false, problem: 'is empty' });
  });

  it('a file shorter than a magic is not mistaken for it', () => {
    expect(sniffDump(Buffer.from([0x1f]))).toEqual({ ok: false, problem: 'is not an SQL dump (it starts with "\x1f")' });
    expect(sniffDump(Buffer.from('BZ'))).toEqual({ ok: false, problem: 'is not an SQL dump (it starts with "BZ")' });
  });
});

describe('parseLoadReport / formatLoadReport', () => {
  const STDOUT = [
    'table messages 1048576',
    'table rooms 12',
    'table users 3',
    'loading: 45% (12.1 MB)',
    'object view active_users',
    'object trigger messages_bi',
    'object procedure purge old rooms',
    'translated collation utf8mb4_0900_ai_ci utf8mb4_uca1400_ai_ci 17',
    'translated definer `root`@`%` CURRENT_USER 3',
    'dropped statement USE 1',
    'dropped statement SET-GTID-PURGED 1',
    '',
  ].join('\n');

  it('reads every record, ignoring anything else', () => {
    expect(parseLoadReport(STDOUT)).toEqual({
      tables: [
        { name: 'messages', rows: 1048576 },
        { name: 'rooms', rows: 12 },
        { name: 'users', rows: 3 },
      ],
      objects: [
        { kind: 'view', name: 'active_users' },
        { kind: 'trigger', name: 'messages_bi' },
        { kind: 'procedure', name: 'purge old rooms' },
      ],
      translated: [
        { what: 'collation', from: 'utf8mb4_0900_ai_ci', to: 'utf8mb4_uca1400_ai_ci', count: 17 },
        { what: 'definer', from: '`root`@`%`', to: 'CURRENT_USER', count: 3 },
      ],
      dropped: [
        { statement: 'USE', count: 1 },
        { statement: 'SET-GTID-PURGED', count: 1 },
      ],
    });
  });

  it('nothing printed: an empty report', () => {
    expect(parseLoadReport('')).toEqual({ tables: [], objects: [], translated: [], dropped: [] });
    expect(parseLoadReport('table\nobject view\ntranslated collation a b\ndropped statement\n')).toEqual({ tables: [], objects: [], translated: [], dropped: [] });
  });

  it('for people: the total, a row per table (aligned), then what was changed on the way in', () => {
    expect(formatLoadReport(parseLoadReport(STDOUT), 'shop')).toEqual([
      'shop: 3 table(s), 1,048,591 row(s)',
      '  messages     1,048,576',
      '  rooms               12',
      '  users                3',
      '  and view active_users, trigger messages_bi, procedure purge old rooms',
      'translated collation utf8mb4_0900_ai_ci -> utf8mb4_uca1400_ai_ci (17x)',
      'translated definer `root`@`%` -> CURRENT_USER (3x)',
      'dropped 1 USE statement(s): everything lands in shop',
      'dropped 1 SET-GTID-PURGED statement(s): everything lands in shop',
    ]);
  });

  it('an empty database, and a long table name that widens the column', () => {
    expect(formatLoadReport(parseLoadReport(''), 'messenger_chat')).toEqual(['messenger_chat: 0 table(s), 0 row(s)']);
    expect(formatLoadReport(parseLoadReport('table a 1\ntable message_attachments 20\n'), 'x')).toEqual([
      'x: 2 table(s), 21 row(s)',
      '  a                               1',
      '  message_attachments            20',
    ]);
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1 kB'],
    [340_499, '340 kB'],
    [1_000_000, '1.0 MB'],
    [1_234_567, '1.2 MB'],
    [999_900_000, '999.9 MB'],
    [1e9, '1.00 GB'],
    [12_345_678_901, '12.35 GB'],
  ])('%d: %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  // The progress lines pass a rate (bytes / seconds, cli/commands/db.ts), which is rarely whole.
  it.each([
    [1000 / 3, '333 B'],
    [0.4, '0 B'],
    [12.5, '13 B'],
    [998.49, '998 B'],
  ])('a fractional count (a rate) %d is whole bytes: %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });
});
