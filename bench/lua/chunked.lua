-- POST with Transfer-Encoding: chunked: a body of `total` bytes (default 262144)
-- sent as chunks of `chunk` bytes (default 1024), then the last-chunk.
-- wrk.format without a body adds no Content-Length; the chunked body is appended.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local common = dofile(here .. "common.lua")

function init(args)
   local opts = common.parse_args(args)
   local total = tonumber(opts.total or "262144")
   local chunk = tonumber(opts.chunk or "1024")
   local parts = {}
   local sent = 0
   while sent < total do
      local size = math.min(chunk, total - sent)
      parts[#parts + 1] = string.format("%x\r\n", size) .. string.rep("x", size) .. "\r\n"
      sent = sent + size
   end
   parts[#parts + 1] = "0\r\n\r\n"
   local head = wrk.format("POST", wrk.path, {
      ["Content-Type"] = "application/octet-stream",
      ["Transfer-Encoding"] = "chunked",
   }, nil)
   chunked_request = head .. table.concat(parts)
   common.maybe_verify(opts)
end

function request()
   return chunked_request
end
