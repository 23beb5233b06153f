package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// deletedHolder is a process that still has a deleted file of the
// database open.
type deletedHolder struct {
	PID  int
	Name string // the process's command name
	File string // base name of the deleted file, e.g. graph.db-shm
}

// holdersOfDeleted looks through /proc for processes that have the
// database at path, its -wal or its -shm open although the file was
// deleted (Linux shows such a descriptor's target as "<path> (deleted)").
// It returns them, and how many processes it was not allowed to look at
// (those of other users, unless run as root). ok is false when there is no
// /proc to look in.
func holdersOfDeleted(path string) (found []deletedHolder, hidden int, ok bool) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, 0, false
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		return nil, 0, false
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		path = filepath.Join(dir, filepath.Base(path)) // as the kernel names it
	}
	targets := map[string]string{}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		targets[path+suffix+" (deleted)"] = filepath.Base(path + suffix)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if errors.Is(err, fs.ErrPermission) {
			hidden++
			continue
		}
		seen := map[string]bool{}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if file, ok := targets[link]; err == nil && ok && !seen[file] {
				seen[file] = true
				comm, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
				found = append(found, deletedHolder{PID: pid, Name: strings.TrimSpace(string(comm)), File: file})
			}
		}
	}
	return found, hidden, true
}

// litestreamHolder finds a Litestream process that has the database at
// path open, as `litestream restore -f` keeps its output open while it
// follows a replica, and returns its pid and command line.
func litestreamHolder(path string) (pid int, cmdline string, ok bool) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, "", false
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // as the kernel names it
	}
	for _, p := range procs {
		n, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", p.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "litestream" {
			continue
		}
		fdDir := filepath.Join("/proc", p.Name(), "fd")
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && link == path {
				b, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
				return n, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")), true
			}
		}
	}
	return 0, "", false
}
