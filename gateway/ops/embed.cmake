# Writes OUT, a C++ file defining gw::ops::status_page(), from the bytes of IN (the status page). Run by
# the build (gateway/ops/CMakeLists.txt) with `cmake -DIN=... -DOUT=... -P embed.cmake`.
file(READ ${IN} _hex HEX)
string(LENGTH "${_hex}" _len)
math(EXPR _bytes "${_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _array "${_hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" _array "${_array}")
file(WRITE ${OUT} "// Generated from gateway/ops/status.html by gateway/ops/embed.cmake; do not edit.\n"
                  "#include <string_view>\n\nnamespace gw::ops {\nnamespace {\n"
                  "const unsigned char kPage[${_bytes} + 1] = {\n${_array}0};\n}  // namespace\n"
                  "std::string_view status_page() {\n"
                  "  return std::string_view(reinterpret_cast<const char*>(kPage), ${_bytes});\n}\n"
                  "}  // namespace gw::ops\n")
