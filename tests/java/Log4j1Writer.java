// Writes JSON lines {"seq":N,...} through a real Log4j 1.2 RollingFileAppender.
// Usage: Log4j1Writer <file> <maxFileSize bytes> <maxBackupIndex> <first seq> <count> <lines per second, 0 = flat out> [pad]
import org.apache.log4j.Logger;
import org.apache.log4j.PatternLayout;
import org.apache.log4j.RollingFileAppender;

public class Log4j1Writer {
    public static void main(String[] a) throws Exception {
        RollingFileAppender app = new RollingFileAppender(new PatternLayout("%m%n"), a[0], true);
        app.setMaximumFileSize(Long.parseLong(a[1]));
        app.setMaxBackupIndex(Integer.parseInt(a[2]));
        app.activateOptions();
        Logger log = Logger.getLogger("audit");
        log.addAppender(app);
        log.setAdditivity(false);
        long first = Long.parseLong(a[3]), count = Long.parseLong(a[4]);
        double rate = Double.parseDouble(a[5]);
        String pad = a.length > 6 ? a[6] : "x";
        long t0 = System.nanoTime();
        for (long i = 0; i < count; i++) {
            log.info("{\"seq\":" + (first + i) + ",\"pad\":\"" + pad + "\"}");
            if (rate > 0) {
                long due = t0 + (long) ((i + 1) * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) Thread.sleep(wait / 1000000, (int) (wait % 1000000));
            }
        }
        app.close();
    }
}
