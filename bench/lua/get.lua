-- A plain keep-alive GET of the URL's path (wrk's own static request).
-- Used for hello-bare, hello-web and response-1mib; see common.lua for verification.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local common = dofile(here .. "common.lua")

function init(args)
   common.maybe_verify(common.parse_args(args))
end
