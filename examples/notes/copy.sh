#!/bin/sh
# copy.sh DEST MODULE copies this example out of the repository into DEST
# as the module MODULE, a start for an application of your own:
#
#	examples/notes/copy.sh ~/src/myapp example.com/myapp
#
# It renames the module and the imports of its packages (gofmt then puts
# them back in order), and points the replace directives, which until the
# first release of resonancedb stand for its modules, at this clone by
# absolute path. The copy's ci.sh then runs as it does here.
set -eu
if [ $# -ne 2 ]; then
	echo "usage: $0 DEST MODULE   (e.g. $0 ~/src/myapp example.com/myapp)" >&2
	exit 2
fi
dest=$1 module=$2
src=$(cd "$(dirname "$0")" && pwd)
clone=$(cd "$src/../.." && pwd)
old=github.com/resonance-graph/resonancedb/examples/notes
if [ -e "$dest" ]; then
	echo "copy.sh: $dest exists already: name a new directory" >&2
	exit 1
fi
mkdir -p "$dest"
cp -R "$src"/. "$dest"/
rm -f "$dest/copy.sh"
cd "$dest"
go mod edit -module "$module" \
	-replace "github.com/resonance-graph/resonancedb=$clone" \
	-replace "github.com/resonance-graph/resonancedb/tools/dbmate=$clone/tools/dbmate"
find . -name '*.go' -exec sed -i.orig "s#\"$old/#\"$module/#g" {} +
find . -name '*.go.orig' -exec rm {} +
gofmt -w .
echo "copied to $dest as module $module; try: cd $dest && ./ci.sh"
