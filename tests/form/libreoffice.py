"""Drive a real LibreOffice (soffice, through UNO) the way a porteur does.

Run with the system Python that has LibreOffice's `uno` module:
    python3 tests/form/libreoffice.py overtype IN.docx OUT.docx LABEL...
opens IN.docx in LibreOffice Writer, overtypes every ☐ that comes right before
one of the LABELs with ☒ (what « cochez la case (☒) » invites a porteur to do,
and what Find & Replace does), and saves OUT.docx with LibreOffice's own Word
filter. The tests call it only when soffice and uno are installed.
"""

import os
import subprocess
import sys
import tempfile
import time

import uno
from com.sun.star.beans import PropertyValue


def _prop(name, value):
    prop = PropertyValue()
    prop.Name, prop.Value = name, value
    return prop


def _connect(port: int):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.monotonic() + 60
    while True:
        try:
            return resolver.resolve(f"uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext")
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def overtype(source: str, target: str, labels: list[str]) -> int:
    port = 20000 + os.getpid() % 20000
    with tempfile.TemporaryDirectory() as profile:
        office = subprocess.Popen(
            ["soffice", "--headless", "--invisible", "--norestore", "--nologo",
             f"-env:UserInstallation=file://{profile}", f"--accept=socket,host=127.0.0.1,port={port};urp;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            desktop = _connect(port).ServiceManager.createInstance("com.sun.star.frame.Desktop")
            doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(os.path.abspath(source)), "_blank", 0,
                                               (_prop("Hidden", True),))
            search = doc.createSearchDescriptor()
            search.SearchString = "☐"
            boxes = doc.findAll(search)
            ticked = 0
            for i in range(boxes.getCount()):
                box = boxes.getByIndex(i)
                cursor = box.getText().createTextCursorByRange(box.getEnd())
                cursor.gotoEndOfParagraph(True)
                if any(cursor.getString().strip().startswith(label) for label in labels):
                    box.setString("☒")
                    ticked += 1
            doc.storeToURL(uno.systemPathToFileUrl(os.path.abspath(target)), (_prop("FilterName", "MS Word 2007 XML"),))
            doc.close(True)
            try:
                desktop.terminate()
            except Exception:  # the bridge goes down with the office
                pass
            office.wait(30)
        finally:
            if office.poll() is None:
                office.kill()
                office.wait()
    return ticked


if __name__ == "__main__":
    command, source, target, *labels = sys.argv[1:]
    assert command == "overtype", command
    print(overtype(source, target, labels))
