#!/bin/sh
# readme-app.sh runs the commands of the README's "Before the first
# release" as written, in a new module in a temporary directory, with
# RESONANCEDB naming this clone, and checks what the program printed. It
# reuses the module and build caches, and gives up after 15 minutes.
set -eu
clone=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The block between the markers, without the markers and the fence lines.
sed -n '/^<!-- begin: before-the-first-release/,/^<!-- end: before-the-first-release/p' "$clone/README.md" |
	sed '1,2d' | sed '$d' | sed '$d' >"$tmp/steps.sh"
if ! grep -q '^export RESONANCEDB=' "$tmp/steps.sh"; then
	echo "readme-app: the README's block of \"Before the first release\" was not found or lost its export line" >&2
	exit 1
fi
sed -i "s#^export RESONANCEDB=.*#export RESONANCEDB='$clone'#" "$tmp/steps.sh"
echo "readme-app: running the README's steps in $tmp"
out=$(cd "$tmp" && timeout 900 sh -eu steps.sh 2>&1) || {
	echo "$out" >&2
	echo "readme-app: the README's steps failed" >&2
	exit 1
}
echo "$out"
for want in '^Hello, graph$' '^nodes  *1$' '\[X\] 20240101000000_create_graph.sql' '^Applied: '; do
	if ! echo "$out" | grep -q "$want"; then
		echo "readme-app: the steps did not print a line matching $want" >&2
		exit 1
	fi
done
echo "readme-app: ok"
