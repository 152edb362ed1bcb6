-- meet.lua - the body of meet_a/b/c.test.lua: the file named meet_<x> arrives at
-- barrier "meet" after a delay of its own (a: 0 s, b: 1 s, c: 2 s), notes when it
-- arrived and when it passed, then meets the others there a second time.
local stamp = require("lib.stamp")
local me = _PROVIUM_SOURCE_PATH:match("meet_(%a)%.test%.lua$")
local delay = ({a = 0, b = 1, c = 2})[me]

test("meets the two other files at 'meet', twice", function(t)
  stamp.sleep(delay)
  stamp.note(me .. " arrived")
  t:assert_eq(provium:barrier("meet", 3, 30), true)
  stamp.note(me .. " passed")
  -- released: the same name is a new rendezvous of three
  t:assert_eq(provium:barrier("meet", 3, "30s"), true)
  stamp.note(me .. " passed2")
end)
