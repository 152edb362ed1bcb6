-- Names, messages, logs and guest output holding bytes that are not UTF-8: every
-- report must show these tests, with the bytes escaped as \xNN.
test("bad \xff name", function(t)
  t:log("logged \x80 byte")
  t:fail("raw \xff\xfe message")
end)

test("guest bytes", function(t)
  local vm = provium:vm("g", "base")
  vm:boot()
  vm:run("printf 'raw:\\377\\376:end\\n' > /dev/console")
  error("guest wrote \xfe")
end)

test("fine", function(t) t:assert(true) end)

-- NUL bytes would end a C string: the text after them must not vanish.
test("nul bytes", function(t)
  t:log("before\0after")
  t:assert_eq("a\0b", "a\0c")
end)
