-- one of three files meeting at a barrier (lib/meet.lua)
require("lib.meet")
