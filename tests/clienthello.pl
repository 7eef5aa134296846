#!/usr/bin/perl
# clienthello.pl PORT HEXNAME: send a TLS 1.2 ClientHello whose SNI is
# the raw bytes HEXNAME (hex, may hold NUL or be empty) to 127.0.0.1:PORT
# and print what came back: "handshake", "alert N" or "closed".
use strict;
use warnings;
use IO::Socket::INET;

my ($port, $hex) = @ARGV;
my $name = pack('H*', $hex // '');
my $sni = pack('n', length($name) + 3) . pack('C n', 0, length $name) . $name;
my %ext = (
  0x0000 => $sni,
  0x000a => pack('n n', 2, 0x0017),                     # supported_groups: P-256
  0x000b => pack('C C', 1, 0),                          # ec_point_formats
  0x000d => pack('n n n n', 6, 0x0403, 0x0804, 0x0401), # signature_algorithms
);
my $exts = join '', map { pack('n n', $_, length $ext{$_}) . $ext{$_} } sort keys %ext;
my $body = pack('n', 0x0303) . ("\x11" x 32) . "\x00"
  . pack('n n n', 4, 0xc02b, 0xc02f) . "\x01\x00"
  . pack('n', length $exts) . $exts;
my $hs = pack('C', 1) . substr(pack('N', length $body), 1) . $body;
my $rec = pack('C n n', 22, 0x0301, length $hs) . $hs;

my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Timeout => 10) or die "connect: $!";
$s->syswrite($rec);
my $got = '';
$s->sysread($got, 7);
if (length $got < 5) { print "closed\n" }
elsif (ord($got) == 22) { print "handshake\n" }
elsif (ord($got) == 21) { printf "alert %d\n", length $got >= 7 ? ord(substr $got, 6) : -1 }
else { print "closed\n" }
