# NAME
#	QmailSniGlue - edit a C source tree by what its code does
# DESCRIPTION
#	What qmail-sni-apply needs to find glue points in qmail and
#	ucspi-ssl trees and change them: a little C (brackets, statements,
#	function headers), the ./load lines of djb-style Makefiles, man page
#	items. Every change is kept in memory until write_all, so a tree
#	that cannot be patched is never half changed.
package QmailSniGlue;
use strict;
use warnings;
use File::Basename qw(dirname basename);
use Exporter 'import';
our @EXPORT = qw(fatal note tree slurp put grep_files close_of statement_end statement_at
  function_start insert_before_function man_add load_line link_object make_append
  targets_add write_all);

my $me = 'qmail-sni-apply';
my $dir;
my %text;    # file => new contents

sub fatal { my $code = shift; print STDERR "$me: fatal: ", @_, "\n"; exit $code; }
sub note { print "$me: ", @_, "\n"; }

sub tree { $dir = shift; %text = (); }

# a file's text as changed so far, or undef if the tree lacks it
sub slurp {
  my ($f) = @_;
  return $text{$f} if exists $text{$f};
  open my $fh, '<', "$dir/$f" or return undef;
  local $/;
  return scalar <$fh>;
}

sub put { my ($f, $s) = @_; $text{$f} = $s; }

sub grep_files { my ($re, @f) = @_; return grep { (slurp($_) // '') =~ $re } @f; }

# index just past the bracket that closes the one at $i, skipping
# strings, character constants and comments
sub close_of {
  my ($s, $i) = @_;
  my $depth = 0;
  while ($i < length $s) {
    my $c = substr($s, $i, 1);
    if ($c eq '"' || $c eq "'") {
      my $q = $c;
      for (++$i; $i < length $s && substr($s, $i, 1) ne $q; ++$i) { ++$i if substr($s, $i, 1) eq '\\'; }
    } elsif (substr($s, $i, 2) eq '/*') {
      $i = index($s, '*/', $i + 2); return undef if $i < 0; ++$i;
    } elsif ($c eq '(' || $c eq '{') { ++$depth; }
    elsif ($c eq ')' || $c eq '}') { return $i + 1 if --$depth == 0; }
    ++$i;
  }
  return undef;
}

# index just past the C statement that starts at $i: a block, an if with
# its else, a loop or switch with its body, or anything up to its ;
sub statement_end {
  my ($s, $i) = @_;
  pos($s) = $i;
  $s =~ /\G\s*/g;
  $i = pos($s);
  return close_of($s, $i) if substr($s, $i, 1) eq '{';
  if (substr($s, $i) =~ /^(if|while|for|switch)\b\s*/) {
    my $kw = $1;
    my $c = close_of($s, $i + length $&) // return undef;
    my $e = statement_end($s, $c) // return undef;
    if ($kw eq 'if' && substr($s, $e) =~ /^\s*else\b/) { return statement_end($s, $e + length $&); }
    return $e;
  }
  # a plain statement: to its ; outside brackets
  while ($i < length $s) {
    my $c = substr($s, $i, 1);
    return $i + 1 if $c eq ';';
    if ($c eq '(' || $c eq '{') { $i = close_of($s, $i) // return undef; next; }
    if ($c eq '"' || $c eq "'") {
      for (++$i; $i < length $s && substr($s, $i, 1) ne $c; ++$i) { ++$i if substr($s, $i, 1) eq '\\'; }
    } elsif (substr($s, $i, 2) eq '/*') {
      $i = index($s, '*/', $i + 2); return undef if $i < 0; ++$i;
    }
    ++$i;
  }
  return undef;
}

# [start, end) of the statement around offset $at, whole lines: the line
# it starts on, to the end of the line it ends on
sub statement_at {
  my ($s, $at) = @_;
  my $bol = rindex($s, "\n", $at) + 1;
  my $end = statement_end($s, $bol) // return;
  my $eol = index($s, "\n", $end);
  return ($bol, $eol < 0 ? length $s : $eol + 1);
}

# offset of the header line of the function that holds offset $at
sub function_start {
  my ($s, $at) = @_;
  my $best;
  while ($s =~ /^[A-Za-z_][^;\n#]*\([^;\n]*\)[ \t]*\{?[ \t]*\n/mg) {
    last if $-[0] > $at;
    $best = $-[0];
  }
  return $best;
}

sub insert_before_function {
  my ($file, $at, $add) = @_;
  my $s = slurp($file);
  my $f = function_start($s, $at);
  defined $f or fatal(100, "$file: no function header found above the TLS code: unable to place the qmail-sni include");
  substr($s, $f, 0) = $add;
  put($file, $s);
}

# add $add at the end of the .TP item whose tag line matches $tag, else
# before SEE ALSO; a page the tree lacks is skipped
sub man_add {
  my ($page, $tag, $add) = @_;
  my $s = slurp($page) // return;
  my $at;
  if ($s =~ /^$tag[^\n]*\n/mg) {
    $s =~ /^\.(?:TP|SH|SS)\b/mg ? ($at = $-[0]) : ($at = length $s);
    $at-- while $at > 1 && substr($s, $at - 2, 2) eq "\n\n";
    $add = "\n$add";
  } elsif ($s =~ /^\.SH\s+"?SEE ALSO/m) {
    $at = $-[0];
  } else {
    $at = length $s;
  }
  substr($s, $at, 0) = $add;
  put($page, $s);
}

# Where $makefile's rule for $prog links it, as make reads the file:
# the rule whose targets include $prog (continued lines joined), and in
# its recipe the first command naming $prog or $@ after its first word,
# whatever runs it: ./load, $(LOADBIN), $(CC) -o, ... Returns the offset
# just after that word in the file as written and the rest of the
# command (continuations joined), or nothing.
sub link_at {
  my ($m, $prog) = @_;
  while ($m =~ /^([^\t#\n][^:=\n]*?)[ \t]*::?(?!=)/mg) {
    my $rule_end = $+[0];
    next unless grep { $_ eq $prog } split ' ', $1;
    pos($m) = $rule_end;
    $m =~ /\G(?:[^\n\\]|\\.|\\\n)*\n/sg or return;    # the prerequisites
    while ($m =~ /\G(\t(?:[^\n\\]|\\.|\\\n)*)(?:\n|\z)/sg) {
      my ($cmd, $at) = ($1, $-[1]);
      if ($cmd =~ /^\t[ \t]*[@+-]*\S+(?:[ \t]|\\\n)+(?:.*?(?:[ \t]|\\\n))?(\Q$prog\E|\$@)(?=[ \t]|\\\n|$)/s) {
        my $end = $+[1];
        (my $rest = substr($cmd, $end)) =~ s/\\\n/ /g;
        return ($at + $end, $rest);
      }
    }
    pos($m) = $rule_end;
  }
  return;
}

# the rest of the command that links $prog in $makefile, or undef
sub load_line {
  my ($makefile, $prog) = @_;
  my (undef, $rest) = link_at(slurp($makefile) // '', $prog);
  return $rest;
}

# @objects added to the command that links $prog, right after its name
sub link_object {
  my ($makefile, $prog, @objects) = @_;
  @objects = ('tls_sni.o') unless @objects;
  my $m = slurp($makefile);
  my ($at) = link_at($m, $prog);
  defined $at or fatal(100, "$makefile: no command links $prog to add ", join(' ', @objects), " to");
  substr($m, $at, 0) = join('', map { " $_" } @objects);
  put($makefile, $m);
}

# the rule that builds each core object (tls_sni.o unless named), and
# $deps (lines "target: prerequisite")
sub make_append {
  my ($makefile, $deps, @objects) = @_;
  @objects = ('tls_sni.o') unless @objects;
  put($makefile, slurp($makefile) . "\n# qmail-sni\n"
    . join('', map { (my $b = $_) =~ s/\.o$//; "$_: \\\ncompile $b.c $b.h" . ($b eq 'tls_sni' ? '' : ' tls_sni.h') . "\n\t./compile $b.c\n" } @objects)
    . join('', map { "$_\n" } @$deps));
}

# @objects (tls_sni.o) in a TARGETS file: after $after if it has that
# line, else last
sub targets_add {
  my ($file, $after, @objects) = @_;
  @objects = ('tls_sni.o') unless @objects;
  my $t = slurp($file) // return;
  my $add = join('', map { "$_\n" } @objects);
  $t =~ s/^\Q$after\E\n/$after\n$add/m or $t .= $add;
  put($file, $t);
}

# the core copied into $at (a directory of the tree), then every changed
# file replaced whole: a temporary file beside it, then rename
sub write_all {
  my ($core, $at, @files) = @_;
  @files = ('tls_sni.c', 'tls_sni.h') unless @files;
  for my $f (@files) {
    open my $in, '<', "$core/$f" or fatal(111, "unable to read $core/$f: $!");
    local $/;
    put($at eq '.' ? $f : "$at/$f", scalar <$in>);
  }
  for my $f (sort keys %text) {
    my $tmp = "$dir/" . dirname($f) . "/." . basename($f) . ".qmail-sni.tmp";
    my $mode = (stat "$dir/$f")[2] // 0644;
    open my $out, '>', $tmp or fatal(111, "unable to write $tmp: $!");
    print $out $text{$f};
    close $out or fatal(111, "unable to write $tmp: $!");
    chmod $mode & 07777, $tmp;
    rename $tmp, "$dir/$f" or fatal(111, "unable to rename $tmp to $f: $!");
  }
}

1;
