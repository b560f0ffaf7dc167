import Foundation
import Testing
@testable import TUI

@Suite("Widgets")
struct WidgetTests {
    func surface(_ width: Int, _ height: Int) -> Surface {
        Surface(buffer: CellBuffer(width: width, height: height), rect: Rect(x: 0, y: 0, width: width, height: height),
                theme: .dark)
    }

    @Test("progress bar: eighth blocks, clamped")
    func progressBar() {
        #expect(ProgressBar.bar(fraction: 0, width: 4) == "    ")
        #expect(ProgressBar.bar(fraction: 0.5, width: 4) == "██  ")
        #expect(ProgressBar.bar(fraction: 0.3, width: 4) == "█▏  ")  // 0.3·32 = 9.6 eighths → 9
        #expect(ProgressBar.bar(fraction: 1, width: 4) == "████")
        #expect(ProgressBar.bar(fraction: 7, width: 3) == "███")
        #expect(ProgressBar.bar(fraction: .nan, width: 2) == "  ")
        var s = surface(10, 1)
        ProgressBar(fraction: 0.25).draw(on: &s)
        #expect(s.buffer.lines == ["█▌     25%"])
    }

    @Test("cell buffer: clipping, wide characters, control characters, diffs")
    func cellBuffer() {
        var buffer = CellBuffer(width: 6, height: 2)
        let end = buffer.write("a漢b\u{7}c", x: 1, y: 0, style: CellStyle())
        #expect(end == 6)
        #expect(buffer.lines[0] == " a漢bc")
        #expect(buffer[3, 0].isContinuation)
        buffer.write("漢字", x: 3, y: 1, style: CellStyle(), clip: Rect(x: 0, y: 0, width: 6, height: 2))
        #expect(buffer.lines[1] == "   漢 ")  // 字 would straddle the edge
        let before = buffer
        buffer.write("Z", x: 0, y: 1, style: CellStyle(bold: true))
        #expect(buffer.changedPositions(since: before).map { [$0.x, $0.y] } == [[0, 1]])
        #expect(buffer.changedPositions(since: CellBuffer(width: 1, height: 1)).count == 12)
        #expect(truncated("abcdef", toWidth: 4) == "abc…")
        #expect(terminalWidth(of: "漢字a") == 5 && terminalWidth(of: "⣿─█") == 3 && terminalWidth(of: "🚀") == 2)
        #expect(terminalWidth(of: Character("\u{1B}")) == 0)
        #expect(padded("ab", toWidth: 4) == "ab  ")
    }

    @Test("panel: border, title, content clipped inside")
    func panel() {
        var s = surface(12, 4)
        Panel(title: "Loss").draw(on: &s) { inner in inner.write("0123456789ABC", x: 0, y: 0, role: .text) }
        #expect(s.buffer.lines == ["┌─ Loss ───┐", "│0123456789│", "│          │", "└──────────┘"])
    }

    @Test("status bar keeps the hint whole and cuts the left text")
    func statusBar() {
        var s = surface(30, 1)
        StatusBar(left: "? help · Tab screens · q quit", hint: "x is not bound").draw(on: &s)
        #expect(s.buffer.lines == [" ? help · Ta…  x is not bound "])
        #expect(s.buffer[15, 0].style == Theme.dark.style(.hint))
    }

    func edit(_ field: inout FormField, _ key: Key) -> Bool { field.edit(with: key) }

    @Test("text field editing: insert, move, delete, clear; editing clears the message")
    func fieldEditing() {
        var field = FormField(label: "rank", value: "12", message: "expected 1…64")
        #expect(field.cursor == 2)
        #expect(edit(&field, .left))
        #expect(field.message == "expected 1…64")  // moving does not change the value
        #expect(edit(&field, .character("x")))
        #expect(field.value == "1x2" && field.cursor == 2 && field.message == nil)
        #expect(edit(&field, .backspace))
        #expect(edit(&field, .delete))
        #expect(field.value == "1" && field.cursor == 1)
        #expect(edit(&field, .home) && field.cursor == 0)
        #expect(edit(&field, .end) && field.cursor == 1)
        #expect(edit(&field, .control("u")))
        #expect(field.value == "" && field.cursor == 0)
        #expect(!edit(&field, .tab))
    }

    @Test("form: labels aligned, the message under its field, the cursor in the focused value")
    func form() {
        let fields = [FormField(label: "rank", value: "0", message: "expected 1…64"),
                      FormField(label: "lr", value: "1e-4")]
        var s = surface(24, 4)
        FormView(fields: fields, focused: 1).draw(on: &s)
        #expect(s.buffer.lines == ["rank: 0                 ", "      ✗ expected 1…64   ",
                                   "  lr: 1e-4              ", "                        "])
        #expect(s.buffer[6, 1].style == Theme.dark.style(.error))
        #expect(s.buffer[10, 2].style.reverse)  // the cursor sits after "1e-4"
        #expect(!s.buffer[9, 2].style.reverse)
        #expect(FormView(fields: fields, focused: 0).height == 3)
    }

    @Test("list: selection moves, clamps and scrolls into view")
    func list() {
        var selection = ListSelection()
        selection.move(by: -1, count: 5, visibleRows: 2)
        #expect(selection.index == 0 && selection.top == 0)
        selection.move(by: 3, count: 5, visibleRows: 2)
        #expect(selection.index == 3 && selection.top == 2)
        selection.move(by: 10, count: 5, visibleRows: 2)
        #expect(selection.index == 4 && selection.top == 3)
        selection.move(by: -4, count: 5, visibleRows: 2)
        #expect(selection.index == 0 && selection.top == 0)
        let items = (1...5).map { ListItem(title: "membrane \($0)", detail: "w 1.0", isOn: $0 % 2 == 1) }
        var moved = ListSelection()
        moved.move(by: 1, count: 5, visibleRows: 2)
        var s = surface(20, 2)
        ListView(items: items, selection: moved, emptyMessage: "none").draw(on: &s)
        #expect(s.buffer.lines == ["[x] membrane 1 w 1.0", "[ ] membrane 2 w 1.0"])
        #expect(s.buffer[0, 1].style == Theme.dark.style(.selection))
        var empty = surface(20, 1)
        ListView(items: [], selection: ListSelection(), emptyMessage: "no membranes loaded").draw(on: &empty)
        #expect(empty.buffer.lines == ["no membranes loaded "])
    }

    @Test("log book: capacity, scrolling back, following")
    func logBook() {
        var book = LogBook(capacity: 3)
        for n in 1...5 { book.append(LogEntry(.info, "m\(n)")) }
        #expect(book.entries.map(\.message) == ["m3", "m4", "m5"])
        book.scroll(by: 1)
        var s = surface(30, 2)
        LogView(book: book).draw(on: &s)
        #expect(s.buffer.lines[0].hasSuffix("m3" + String(repeating: " ", count: 19)))
        #expect(s.buffer.lines[1].contains("m4") && s.buffer.lines[1].contains("↓ 1 newer"))
        book.scroll(by: 99)
        #expect(book.scrollBack == 2)
        book.follow()
        #expect(book.scrollBack == 0)
    }

    @Test("log times are local, on a 24-hour clock")
    func logTimes() throws {
        let evening = try #require(Calendar.current.date(from: DateComponents(year: 2026, month: 12, day: 2, hour: 18,
                                                                              minute: 22, second: 9)))
        #expect(LogView.stamp(evening) == "18:22:09")
        var s = surface(30, 1)
        var book = LogBook()
        book.append(LogEntry(.info, "late", time: evening))
        LogView(book: book).draw(on: &s)
        #expect(s.buffer.lines[0].hasPrefix("18:22:09 late"))
    }
}
