"""MediaPipe's face mesh example, unchanged but for its first import line."""

import cv2

import graphflow.solutions as mp  # was: import mediapipe as mp
from graphflow.resources import resource_dir

mp_drawing = mp.solutions.drawing_utils
mp_drawing_styles = mp.solutions.drawing_styles
mp_face_mesh = mp.solutions.face_mesh

image = cv2.imread(str(resource_dir("media") / "tilted" / "roll_p10.jpg"))
assert image is not None, "the bundled photo is missing"
with mp_face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                           min_detection_confidence=0.5) as face_mesh:
    results = face_mesh.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))

annotated = image.copy()
for face_landmarks in results.multi_face_landmarks:
    print("left iris centre:", face_landmarks.landmark[468].x, face_landmarks.landmark[468].y)
    mp_drawing.draw_landmarks(
        image=annotated, landmark_list=face_landmarks,
        connections=mp_face_mesh.FACEMESH_TESSELATION, landmark_drawing_spec=None,
        connection_drawing_spec=mp_drawing_styles.get_default_face_mesh_tesselation_style())
    mp_drawing.draw_landmarks(
        image=annotated, landmark_list=face_landmarks,
        connections=mp_face_mesh.FACEMESH_CONTOURS, landmark_drawing_spec=None,
        connection_drawing_spec=mp_drawing_styles.get_default_face_mesh_contours_style())
    mp_drawing.draw_landmarks(
        image=annotated, landmark_list=face_landmarks,
        connections=mp_face_mesh.FACEMESH_IRISES, landmark_drawing_spec=None,
        connection_drawing_spec=mp_drawing_styles.get_default_face_mesh_iris_connections_style())

if __name__ == "__main__":
    cv2.imwrite("annotated_face_mesh.png", annotated)
