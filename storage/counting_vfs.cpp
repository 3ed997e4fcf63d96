// Implementation of the counting VFS: a file wrapper whose methods forward to the real file, with
// xWrite and xSync counted. The io_methods version follows the real file's, so WAL (shared memory,
// version 2) and memory-mapped I/O (version 3) keep working.
#include "storage/counting_vfs.hpp"

#include <atomic>
#include <cstring>

namespace gw::storage {
namespace {

struct File {
  sqlite3_file base;   // must be first: SQLite sees this
  sqlite3_file* real;  // the real file, allocated right after this struct
  CountingVfs* owner;
  bool wal;  // opened as a write-ahead log (SQLITE_OPEN_WAL)
};

sqlite3_file* real(sqlite3_file* f) {
  return reinterpret_cast<File*>(f)->real;
}

int x_close(sqlite3_file* f) {
  int rc = real(f)->pMethods ? real(f)->pMethods->xClose(real(f)) : SQLITE_OK;
  return rc;
}
// The injected fault (CountingVfs::inject_fault): a bit per operation, and the code to fail with.
constexpr unsigned kFailReads = 1;
constexpr unsigned kFailWrites = 2;
constexpr unsigned kFailSyncs = 4;
std::atomic<unsigned> g_fault_ops{0};
std::atomic<int> g_fault_code{SQLITE_IOERR};

bool faulty(unsigned op) {
  return (g_fault_ops.load(std::memory_order_relaxed) & op) != 0;
}

int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  if (faulty(kFailReads)) return g_fault_code.load(std::memory_order_relaxed);
  return real(f)->pMethods->xRead(real(f), p, n, off);
}
int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  if (faulty(kFailWrites)) return g_fault_code.load(std::memory_order_relaxed);
  int rc = real(f)->pMethods->xWrite(real(f), p, n, off);
  if (rc == SQLITE_OK) {
    auto* file = reinterpret_cast<File*>(f);
    file->owner->count_write(n);
    // The WAL header is one 32-byte write at offset 0 when a WAL generation starts; the rest are frames.
    if (file->wal && !(off == 0 && n == 32)) file->owner->count_wal(n);
  } else if ((rc & 0xff) == SQLITE_FULL) {
    reinterpret_cast<File*>(f)->owner->count_full_write();
  }
  return rc;
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (faulty(kFailSyncs)) return g_fault_code.load(std::memory_order_relaxed);
  reinterpret_cast<File*>(f)->owner->count_sync();
  return real(f)->pMethods->xSync(real(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file* f, int l) {
  return real(f)->pMethods->xLock(real(f), l);
}
int x_unlock(sqlite3_file* f, int l) {
  return real(f)->pMethods->xUnlock(real(f), l);
}
int x_check_reserved(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file* f) {
  return real(f)->pMethods->xSectorSize(real(f));
}
int x_device_characteristics(sqlite3_file* f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** pp) {
  return real(f)->pMethods->xShmMap(real(f), region, size, extend, pp);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) {
  real(f)->pMethods->xShmBarrier(real(f));
}
int x_shm_unmap(sqlite3_file* f, int del) {
  return real(f)->pMethods->xShmUnmap(real(f), del);
}
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** pp) {
  return real(f)->pMethods->xFetch(real(f), off, n, pp);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real(f)->pMethods->xUnfetch(real(f), off, p);
}

// One methods table per io_methods version the real VFS may hand out.
sqlite3_io_methods make_methods(int version) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = x_close;
  m.xRead = x_read;
  m.xWrite = x_write;
  m.xTruncate = x_truncate;
  m.xSync = x_sync;
  m.xFileSize = x_file_size;
  m.xLock = x_lock;
  m.xUnlock = x_unlock;
  m.xCheckReservedLock = x_check_reserved;
  m.xFileControl = x_file_control;
  m.xSectorSize = x_sector_size;
  m.xDeviceCharacteristics = x_device_characteristics;
  if (version >= 2) {
    m.xShmMap = x_shm_map;
    m.xShmLock = x_shm_lock;
    m.xShmBarrier = x_shm_barrier;
    m.xShmUnmap = x_shm_unmap;
  }
  if (version >= 3) {
    m.xFetch = x_fetch;
    m.xUnfetch = x_unfetch;
  }
  return m;
}
const sqlite3_io_methods kMethods[4] = {make_methods(1), make_methods(1), make_methods(2), make_methods(3)};

int x_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* owner = static_cast<CountingVfs*>(vfs->pAppData);
  auto* file = reinterpret_cast<File*>(f);
  file->real = reinterpret_cast<sqlite3_file*>(file + 1);
  file->owner = owner;
  file->wal = (flags & SQLITE_OPEN_WAL) != 0;
  file->base.pMethods = nullptr;
  std::memset(file->real, 0, static_cast<std::size_t>(owner->real()->szOsFile));
  int rc = owner->real()->xOpen(owner->real(), name, file->real, flags, out_flags);
  if (file->real->pMethods != nullptr) {
    int v = file->real->pMethods->iVersion;
    file->base.pMethods = &kMethods[v < 1 ? 1 : (v > 3 ? 3 : v)];
  }
  return rc;
}

int x_delete(sqlite3_vfs* v, const char* n, int sync) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xDelete(r, n, sync);
}
int x_access(sqlite3_vfs* v, const char* n, int flags, int* out) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xAccess(r, n, flags, out);
}
int x_full_pathname(sqlite3_vfs* v, const char* n, int size, char* out) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xFullPathname(r, n, size, out);
}
void* x_dl_open(sqlite3_vfs* v, const char* n) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xDlOpen(r, n);
}
void x_dl_error(sqlite3_vfs* v, int n, char* msg) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  r->xDlError(r, n, msg);
}
void (*x_dl_sym(sqlite3_vfs* v, void* h, const char* s))(void) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xDlSym(r, h, s);
}
void x_dl_close(sqlite3_vfs* v, void* h) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  r->xDlClose(r, h);
}
int x_randomness(sqlite3_vfs* v, int n, char* out) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xRandomness(r, n, out);
}
int x_sleep(sqlite3_vfs* v, int us) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xSleep(r, us);
}
int x_current_time(sqlite3_vfs* v, double* out) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xCurrentTime(r, out);
}
int x_get_last_error(sqlite3_vfs* v, int n, char* out) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xGetLastError ? r->xGetLastError(r, n, out) : 0;
}
int x_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
  auto* r = static_cast<CountingVfs*>(v->pAppData)->real();
  return r->xCurrentTimeInt64(r, out);
}

std::atomic<unsigned> g_instances{0};

}  // namespace

CountingVfs::CountingVfs() {
  real_ = sqlite3_vfs_find(nullptr);
  if (real_ == nullptr || real_->iVersion < 2) return;
  name_ = "gw-counting-" + std::to_string(g_instances.fetch_add(1));
  vfs_.iVersion = 2;
  vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
  vfs_.mxPathname = real_->mxPathname;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = this;
  vfs_.xOpen = x_open;
  vfs_.xDelete = x_delete;
  vfs_.xAccess = x_access;
  vfs_.xFullPathname = x_full_pathname;
  vfs_.xDlOpen = x_dl_open;
  vfs_.xDlError = x_dl_error;
  vfs_.xDlSym = x_dl_sym;
  vfs_.xDlClose = x_dl_close;
  vfs_.xRandomness = x_randomness;
  vfs_.xSleep = x_sleep;
  vfs_.xCurrentTime = x_current_time;
  vfs_.xGetLastError = x_get_last_error;
  vfs_.xCurrentTimeInt64 = x_current_time_int64;
  registered_ = sqlite3_vfs_register(&vfs_, 0) == SQLITE_OK;
}

CountingVfs::~CountingVfs() {
  if (registered_) sqlite3_vfs_unregister(&vfs_);
}

void CountingVfs::inject_fault(const Fault& fault) {
  g_fault_code.store(fault.code, std::memory_order_relaxed);
  g_fault_ops.store(
      (fault.reads ? kFailReads : 0u) | (fault.writes ? kFailWrites : 0u) | (fault.syncs ? kFailSyncs : 0u),
      std::memory_order_relaxed);
}

}  // namespace gw::storage
