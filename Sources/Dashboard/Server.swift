import Foundation
import Hummingbird
import Logging
import NIOCore

/// A response before it meets HTTP: the routes below and the tests share it.
public struct Reply: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: String
    public var retryAfter: Int?

    static func html(_ body: String, status: Int = 200) -> Reply {
        Reply(status: status, contentType: "text/html; charset=utf-8", body: body)
    }
    static func json(_ body: String, status: Int = 200) -> Reply {
        Reply(status: status, contentType: "application/json; charset=utf-8", body: body)
    }
}

/// The dashboard's routes over `DashboardData`, independent of the HTTP server.
public struct DashboardSite: Sendable {
    public let data: DashboardData
    public init(data: DashboardData) { self.data = data }

    var ledgerPath: String { data.source.path }

    private func failure(_ error: Error, json: Bool, study: String? = nil) -> Reply {
        // A study route on a ledger still being created: that study does not exist yet.
        let f = error is LedgerSource.LedgerBeingCreated
            ? DashboardFailure.noSuchStudy(name: study ?? "", path: ledgerPath) : LedgerSource.failure(error, path: ledgerPath)
        var reply = json
            ? Reply.json(encodeJSON(APIError(error: f.kind, message: f.description, ledger: ledgerPath)), status: f.status)
            : Reply.html(Pages.failure(f, ledger: ledgerPath), status: f.status)
        if case .locked = f { reply.retryAfter = 2 }
        return reply
    }

    private func api(_ study: String? = nil, _ body: () throws -> String) -> Reply {
        do { return .json(try body()) } catch { return failure(error, json: true, study: study) }
    }

    private func page(_ study: String? = nil, _ body: () throws -> String) -> Reply {
        do { return .html(try body()) } catch { return failure(error, json: false, study: study) }
    }

    public func indexPage() -> Reply { page { Pages.index(try data.studies()) } }

    public func studyPage(_ name: String) -> Reply {
        page(name) {
            let entry = try data.study(name)
            let sections = try data.sections(name)
            return Pages.study(entry, running: try data.running(name), sections: sections, ledger: ledgerPath, reportStyle: ReportStyle.current)
        }
    }

    public func studiesAPI() -> Reply { api { encodeJSON(try data.studies()) } }
    public func studyAPI(_ name: String) -> Reply { api(name) { encodeJSON(try data.study(name)) } }
    public func summaryAPI(_ name: String) -> Reply { api(name) { try data.summaryJSON(name) } }
    public func runningAPI(_ name: String) -> Reply { api(name) { encodeJSON(try data.running(name)) } }
    public func sectionsAPI(_ name: String) -> Reply { api(name) { try data.sectionsJSON(name) } }

    public func notFound(_ path: String) -> Reply {
        path.hasPrefix("/api/")
            ? .json(encodeJSON(APIError(error: "not_found", message: "no API route \(path); routes: docs/dashboard.md", ledger: ledgerPath)), status: 404)
            : .html(Pages.notFound(path, ledger: ledgerPath), status: 404)
    }

    /// Routes a GET path (the server's and the tests' one dispatcher).
    public func get(_ rawPath: String) -> Reply {
        let path = rawPath.split(separator: "?", maxSplits: 1).first.map(String.init) ?? rawPath
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
        switch parts.count {
        case 0: return indexPage()
        case 2 where parts[0] == "studies": return studyPage(parts[1])
        case 2 where parts[0] == "api" && parts[1] == "studies": return studiesAPI()
        case 3 where parts[0] == "api" && parts[1] == "studies": return studyAPI(parts[2])
        case 4 where parts[0] == "api" && parts[1] == "studies":
            switch parts[3] {
            case "summary": return summaryAPI(parts[2])
            case "running": return runningAPI(parts[2])
            case "sections": return sectionsAPI(parts[2])
            default: return notFound(path)
            }
        default: return notFound(path)
        }
    }
}

/// `mergetune serve`: the site over Hummingbird.
public enum DashboardServer {
    /// Reads block on SQLite (and wait up to the busy timeout): they run here, off the
    /// server's event loops and Swift's cooperative threads.
    static let readers = DispatchQueue(label: "mergetune.dashboard.readers", qos: .userInitiated, attributes: .concurrent)

    static func response(_ reply: Reply) -> Response {
        var headers: HTTPFields = [.contentType: reply.contentType, .cacheControl: "no-store"]
        if let r = reply.retryAfter { headers[.retryAfter] = String(r) }
        return Response(status: .init(code: reply.status), headers: headers,
                        body: .init(byteBuffer: ByteBuffer(string: reply.body)))
    }

    static func answer(_ work: @escaping @Sendable () -> Reply) async -> Response {
        let reply = await withCheckedContinuation { (c: CheckedContinuation<Reply, Never>) in
            readers.async { c.resume(returning: work()) }
        }
        return response(reply)
    }

    /// Serves until SIGINT or SIGTERM. `onListening` gets the bound port (useful with port 0).
    public static func run(site: DashboardSite, host: String, port: Int,
                           onListening: @escaping @Sendable (Int) -> Void) async throws {
        let router = Router()
        let s = site
        router.get("/") { _, _ in await answer { s.indexPage() } }
        router.get("/studies/:name") { request, _ in await answer { s.get(request.uri.path) } }
        router.get("/api/studies") { _, _ in await answer { s.studiesAPI() } }
        router.get("/api/studies/:name") { request, _ in await answer { s.get(request.uri.path) } }
        router.get("/api/studies/:name/:view") { request, _ in await answer { s.get(request.uri.path) } }
        router.get("**") { request, _ in await answer { s.notFound(request.uri.path) } }
        var logger = Logger(label: "mergetune-serve")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "mergetune"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? port) },
            logger: logger)
        try await app.runService()
    }
}
