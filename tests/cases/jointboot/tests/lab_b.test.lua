-- one of two files booting a two-VM lab at once (lib/twovms.lua)
require("lib.twovms")
